"""What every HTML page of ours is rendered with: one jinja2 environment, Markdown, code highlighting.

Templates live in ``autograder/templates``; student text is never trusted as markup (autoescape on, raw
HTML in Markdown escaped).
"""

from __future__ import annotations

import functools

def markdown_html(text: str) -> str:
    """Markdown as HTML, with raw HTML escaped (students' text is never trusted as markup)."""
    return _markdown().render(text or "")


@functools.lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").enable("strikethrough")


def code_html(source: str) -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer

    return highlight(source or "", PythonLexer(), HtmlFormatter(cssclass="code", nowrap=False))


def code_css() -> str:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".code")


def environment():
    """The jinja2 environment of the pages (templates shipped in ``autograder/templates``)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("autograder", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    from markupsafe import Markup

    env.filters["markdown"] = lambda text: Markup(markdown_html(text))
    env.filters["code"] = lambda text: Markup(code_html(text))
    env.filters["points"] = lambda value: "" if value is None else f"{value:.4g}"
    return env
