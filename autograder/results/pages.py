"""What every HTML page of ours is rendered with: one jinja2 environment, Markdown with math, code highlighting.

Templates live in ``autograder/templates``; student text is never trusted as markup (autoescape on, raw
HTML in Markdown escaped).

Math (``$...$``, ``$$...$$``, as Jupyter writes it) is turned into MathML when the page is written
(markdown-it's dollarmath plugin finds it, latex2mathml converts it), which browsers render natively: the
pages need no script, no font and no network, and work offline as single files. latex2mathml passes text
through unescaped and keeps links and styles (from its href and style commands), so its output is rebuilt from a whitelist of MathML
elements and attributes, every text escaped (`safe_mathml`); LaTeX it cannot convert is shown as code.
"""

from __future__ import annotations

import functools
import html
from html.parser import HTMLParser

#: MathML elements a page may contain (MathML Core's presentation elements).
MATHML_ELEMENTS = frozenset({
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup", "munder", "mover", "munderover",
    "mfrac", "msqrt", "mroot", "mstyle", "mpadded", "mphantom", "menclose", "mtable", "mtr", "mtd", "merror", "semantics",
    "annotation", "mmultiscripts", "mprescripts", "none",
})
#: Their attributes a page may keep: layout only, never links, styles or event handlers.
MATHML_ATTRIBUTES = frozenset({
    "display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace", "columnalign", "rowalign", "linethickness",
    "accent", "accentunder", "movablelimits", "form", "minsize", "maxsize", "symmetric", "width", "height", "depth",
    "columnspacing", "rowspacing", "columnlines", "rowlines", "frame", "displaystyle", "scriptlevel", "xmlns", "linebreak",
    "notation", "largeop", "columnspan", "rowspan", "voffset", "encoding",
})


class _MathMLWhitelist(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in MATHML_ELEMENTS:
            return
        kept = "".join(f' {name}="{html.escape(value or "", quote=True)}"' for name, value in attrs if name in MATHML_ATTRIBUTES)
        self.out.append(f"<{tag}{kept}>")
        self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in MATHML_ELEMENTS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in MATHML_ELEMENTS and tag in self.open:
            while self.open:
                closing = self.open.pop()
                self.out.append(f"</{closing}>")
                if closing == tag:
                    break

    def handle_data(self, data):
        self.out.append(html.escape(data, quote=False))


def safe_mathml(markup: str) -> str:
    """``markup`` with only whitelisted MathML elements and attributes kept, all text escaped, every element closed."""
    parser = _MathMLWhitelist()
    parser.feed(markup)
    parser.close()
    return "".join(parser.out) + "".join(f"</{tag}>" for tag in reversed(parser.open))


def math_html(latex: str, display: bool = False) -> str:
    """LaTeX as MathML (safe to embed), or the LaTeX itself as escaped code when it cannot be converted."""
    from latex2mathml.converter import convert

    try:
        return safe_mathml(convert(latex, display="block" if display else "inline"))
    except Exception:  # the converter's own errors are many and undocumented: any of them means "show the source"
        return f'<code class="math-source">{html.escape(latex)}</code>'


def markdown_html(text: str) -> str:
    """Markdown (with ``$`` math) as HTML, with raw HTML escaped (students' text is never trusted as markup)."""
    return _markdown().render(text or "")


@functools.lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    parser = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")
    parser.use(dollarmath_plugin, double_inline=True, allow_digits=False,
               renderer=lambda content, options: math_html(content, display=bool(options.get("display_mode"))))
    return parser


def markdown_inline_html(text: str) -> str:
    """One line of Markdown (with ``$`` math) as inline HTML, no paragraph around it; raw HTML escaped."""
    return _markdown().renderInline(text or "")


def code_html(source: str) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return highlight(source or "", PythonLexer(), HtmlFormatter(cssclass="code", nowrap=False))


def code_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".code")


def points_text(value: float | None) -> str:
    """Points as every page shows them: at most two decimals, no trailing zeros (10.02, 0.5, 3)."""
    if value is None:
        return ""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def metric_text(value: float | None) -> str:
    """A metric's score as the leaderboard shows it (4 decimals; a dash when there is none)."""
    return "–" if value is None else f"{value:.4f}"


@functools.cache
def environment():
    """The jinja2 environment of the pages (templates shipped in ``autograder/templates``). One per process,
    so each template is compiled once, not on every page (the hand-grading server renders one per step);
    nothing may change it after it is made."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("autograder", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    from markupsafe import Markup

    env.filters["markdown"] = lambda text: Markup(markdown_html(text))
    env.filters["markdown_inline"] = lambda text: Markup(markdown_inline_html(text))
    env.filters["code"] = lambda text: Markup(code_html(text))
    env.filters["points"] = points_text
    env.filters["score"] = metric_text
    return env
