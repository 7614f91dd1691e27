"""Markdown and LaTeX on our pages: math becomes MathML a browser renders with no script or network, and
nothing a student writes in Markdown or LaTeX becomes markup."""

from autograder.results.pages import environment, markdown_html, safe_mathml
from browser import chromium, console_errors

DERIVATION = r"""The loss is $L(w) = \frac{1}{n}\sum_{i=1}^{n} (x_i^\top w - y_i)^2$, so

$$\nabla L = \underbrace{\frac{2}{n} X^\top (Xw - y)}_{\text{gradient}}$$

and a price of $5 or $6 stays text."""


def test_inline_and_display_math_become_mathml():
    page = markdown_html(DERIVATION)
    assert page.count("<math ") == 2 and 'display="block"' in page
    assert "<munder>" in page and "<mfrac>" in page  # \underbrace and \frac survive (Jupyter renders them too)
    assert "$5 or $6" in page


def test_latex_cannot_smuggle_markup_links_or_styles():
    page = markdown_html(r"$\text{<img src=x onerror=alert(1)>} \href{javascript:alert(1)}{x} \style{color:red}{y}$ <b>no</b>")
    assert "<img" not in page and "onerror" not in page.replace("onerror=alert(1)&gt;", "")
    assert "javascript:" not in page and "style=" not in page and "<b>" not in page


def test_the_whitelist_closes_what_it_opens_and_escapes_text():
    assert safe_mathml("<math><mi>a&b</mi><mrow onclick='x'><mi>c") == "<math><mi>a&amp;b</mi><mrow><mi>c</mi></mrow></math>"


def test_latex_the_converter_cannot_read_is_shown_as_code():
    page = markdown_html(r"$\frac{1}{$")
    assert "<script" not in page


def test_chromium_renders_the_math_with_no_console_errors(tmp_path):
    html = environment().from_string("{% extends 'base.html.j2' %}{% block body %}{{ text|markdown }}{% endblock %}").render(
        text=DERIVATION, css="")
    page = tmp_path / "math.html"
    page.write_text(html, encoding="utf-8")
    with chromium() as driver:
        driver.get(page.as_uri())
        assert console_errors(driver) == []
        formulas = driver.find_elements("css selector", "math")
        assert len(formulas) == 2
        for formula in formulas:  # laid out as math: a box with height, the fraction stacked (taller than a line)
            width, height = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height]", formula)
            assert width > 40 and height > 20
        fraction = driver.find_element("css selector", "mfrac")
        numerator, denominator = driver.execute_script(
            "const [a, b] = arguments[0].children; return [a.getBoundingClientRect().bottom, b.getBoundingClientRect().top]", fraction)
        assert numerator <= denominator + 1  # stacked, not side by side
