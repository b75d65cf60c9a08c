"""The one Markdown pipeline: lesson pages and the admin preview both render through here.

Python-Markdown + pymdown-extensions, Pygments highlighting on the server (each block labelled with its language, lines numbered on
request with ```lang linenums="1"), ```mermaid fences
kept as readable source in a `<pre class="mermaid">` that Mermaid turns into a diagram in the
browser, and nh3 sanitising the result so instructor HTML cannot carry scripts.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import partial

import markdown
import nh3
from markdown.extensions.toc import slugify as toc_slugify

ALLOWED_TAGS = {
    "a", "abbr", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "mark", "ol", "p",
    "pre", "s", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "*": {"class", "id", "title"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"},
    "ol": {"start"},
    "span": {"data-linenos"},  # line numbers of ```lang linenums="1" fences (CSS shows them)
}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}


@dataclass(frozen=True)
class Rendered:
    html: str
    diagrams: int  # number of mermaid blocks
    code_blocks: int  # number of highlighted code blocks


def _mermaid_fence(source: str, language: str, css_class: str, options, md, **kwargs) -> str:
    """Emit the diagram source escaped, so it stays readable when JavaScript is off."""
    return f'<pre class="mermaid">{html.escape(source)}</pre>'


def _slugify_with_prefix(value: str, separator: str, *, prefix: str) -> str:
    slug = toc_slugify(value, separator)
    return f"{prefix}{separator}{slug}" if prefix else slug


def _markdown(anchor_prefix: str) -> markdown.Markdown:
    return markdown.Markdown(
        extensions=[
            "admonition",
            "attr_list",
            "def_list",
            "tables",
            "toc",
            "pymdownx.highlight",
            "pymdownx.superfences",
            "pymdownx.details",
            "pymdownx.tasklist",
        ],
        extension_configs={
            "toc": {
                "slugify": partial(_slugify_with_prefix, prefix=anchor_prefix),
                "permalink": "#",
                "permalink_title": "Link to this heading",
            },
            "pymdownx.highlight": {
                "use_pygments": True,
                "css_class": "highlight",
                "guess_lang": False,
                "pygments_lang_class": True,
                # A language label above every block (`title="…"` on a fence overrides it).
                "auto_title": True,
                "auto_title_map": {"Text Only": "Text", "Docker": "Dockerfile"},
                # ```yaml linenums="1" numbers the lines; numbers are CSS, so Copy skips them.
                "linenums_style": "pymdownx-inline",
            },
            "pymdownx.superfences": {
                "custom_fences": [
                    {"name": "mermaid", "class": "mermaid", "format": _mermaid_fence},
                ],
            },
        },
        output_format="html",
    )


def sanitize(raw_html: str) -> str:
    """Strip scripts, event handlers and javascript: URLs from rendered HTML."""
    return nh3.clean(
        raw_html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer",
    )


def render_markdown(text: str, *, anchor_prefix: str = "") -> Rendered:
    """Render Markdown to safe HTML; `anchor_prefix` keeps heading ids unique across sections."""
    body = sanitize(_markdown(anchor_prefix).convert(text or ""))
    return Rendered(
        html=body,
        diagrams=body.count('<pre class="mermaid">'),
        code_blocks=body.count('<div class="language-'),
    )
