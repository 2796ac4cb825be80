"""Message formatting: a safe Markdown subset rendered to HTML once per text.

The raw text a user typed stays the stored truth and is what plain-text clients
(the tutorial's page) get as ``message``; a message with markup also carries
``html``, its rendering: parsed by markdown-it-py (CommonMark, raw HTML off)
with only bold, italic, strike, inline code, fenced code blocks, block quotes,
lists, links and autolinks enabled, then cleaned by nh3 (an allow-list HTML
sanitizer) so that only the tags in :data:`TAGS` survive, links keep
``http``/``https`` targets only and every link gets :data:`LINK_REL`.

Rendering happens once per distinct text (:func:`render` is cached), not once
per delivery: a broadcast encodes its message once, and a text with no markup
is not parsed at all.
"""

from __future__ import annotations

import functools
import re

import nh3
from markdown_it import MarkdownIt

#: The tags a rendering may hold.
TAGS = frozenset(
    {"p", "br", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a"}
)
#: The attributes each tag may keep.
ATTRIBUTES = {"a": {"href"}, "ol": {"start"}}
#: The only link targets kept.
URL_SCHEMES = frozenset({"http", "https"})
#: The ``rel`` of every link in a rendering.
LINK_REL = "nofollow noopener noreferrer ugc"
#: How many distinct texts keep their rendering in memory.
CACHE_SIZE = 4096
#: The most markup characters (``* _ ~ ` [ ] < > \ &``) a text may have and
#: still be rendered; past them it is shown as plain text. Parsing cost grows
#: faster than the text with piles of delimiters (hundreds of ``~~`` take
#: tens of milliseconds); this bounds a message's rendering to a couple of
#: milliseconds, whatever a client sends.
MARKUP_BUDGET = 200
#: The most web addresses (``http``) a rendered text may have.
ADDRESS_BUDGET = 20
_MARKUP_CHARACTERS = "*_~`[]<>\\&"

# Anything Markdown could turn into markup: emphasis, code, links, escapes,
# entities, autolinks and bare URLs, and quotes, lists and fences at a line's
# start. A text with none of them renders as itself, so it gets no ``html``.
_MARKUP = re.compile(
    r"[*_~`\[\\<]|https?://|^[ \t]{0,3}(?:>|[-+][ \t]|\d{1,9}[.)][ \t])",
    re.MULTILINE,
)


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": True, "breaks": True})
    md.enable(["strikethrough", "linkify"])
    # Not in the subset: headings, rules, images, indented code (a chat line
    # indented by four spaces is not code), reference definitions, raw HTML,
    # and character references: "&amp;" typed stays "&amp;" (as it shows in
    # plain text), and no "&#106;avascript" spells anything.
    md.disable(
        [
            "heading",
            "lheading",
            "hr",
            "image",
            "code",
            "reference",
            "html_block",
            "html_inline",
            "entity",
        ]
    )
    assert md.linkify is not None  # linkify-it-py, markdown-it-py[linkify]
    # Only addresses that say http:// or https:// become links, as in plain
    # text (no "www.example.com", no bare e-mail addresses).
    md.linkify.set({"fuzzy_email": False, "fuzzy_link": False})
    return md


_md = _parser()


def has_markup(text: str) -> bool:
    """Whether *text* may render as something other than itself."""
    return _MARKUP.search(text) is not None


def within_budget(text: str) -> bool:
    """Whether *text* has at most :data:`MARKUP_BUDGET` markup characters and
    :data:`ADDRESS_BUDGET` web addresses (else it is not rendered)."""
    markup = sum(text.count(ch) for ch in _MARKUP_CHARACTERS)
    addresses = text.count("http")
    return markup <= MARKUP_BUDGET and addresses <= ADDRESS_BUDGET


def _only_allowed(tag: str, attribute: str, value: str) -> str | None:
    # nh3 also keeps a few attributes on every tag (``title``, ``lang``).
    if attribute in ATTRIBUTES.get(tag, ()):
        return value
    return value if tag == "a" and attribute == "rel" and value == LINK_REL else None


@functools.lru_cache(maxsize=CACHE_SIZE)
def _render(text: str) -> str:
    html = _md.render(text)
    cleaned: str = nh3.clean(
        html,
        tags=set(TAGS),
        attributes={tag: set(names) for tag, names in ATTRIBUTES.items()},
        attribute_filter=_only_allowed,
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )
    return cleaned.strip()


def render(text: str) -> str | None:
    """*text*'s rendering as clean HTML, or ``None`` when it has no markup, or
    more than the budgets allow
    (:data:`~flask_chatroom.formatting.MARKUP_BUDGET`,
    :data:`~flask_chatroom.formatting.ADDRESS_BUDGET`): show the text as it
    is. Cached per text."""
    if not text or not has_markup(text) or not within_budget(text):
        return None
    return _render(text)
