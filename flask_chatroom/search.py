"""Full-text search of messages: what a search text asks for (:class:`Query`,
:func:`parse_query`), the text a store indexes (:func:`index_text`), and
where a result's words matched (:func:`highlights`).

Stores index :func:`index_text` of each message's current text and look the
query's words up in it; the same folding on both sides makes a search
case- and accent-insensitive, and CJK text searchable by substring.
"""

from __future__ import annotations

import datetime
import functools
import itertools
import re
import time
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Query:
    """What a search asks for.

    :param terms: words every result must contain (folded, see
        :func:`index_text`); a result's word matches a term it starts with.
    :param phrases: runs of words every result must contain in this order,
        each a tuple of folded words (a quoted phrase, or a CJK run split into
        its characters); the words of a phrase match whole.
    :param sender: only messages from this user: a user id, or a display name
        (compared case-insensitively).
    :param room: only this room (``in:``).
    :param after: only messages at or after this time (epoch ms).
    :param before: only messages before this time (epoch ms).
    """

    terms: tuple[str, ...] = ()
    phrases: tuple[tuple[str, ...], ...] = ()
    sender: str | None = None
    room: str | None = None
    after: int | None = None
    before: int | None = None

    @property
    def empty(self) -> bool:
        """Whether it has no words to look for (filters alone are no search)."""
        return not self.terms and not self.phrases


# -- folding ------------------------------------------------------------------

#: The characters that each become a word of their own: Han (with radicals and
#: the compatibility and supplementary planes), Hiragana, Katakana, Bopomofo and
#: Hangul (syllables and jamo). Text in these scripts has no spaces between
#: words, so a store indexes it character by character and a search finds it
#: by substring (a run of them is a phrase of its characters).
_CJK_RANGES = (
    "\u1100-\u11ff"  # Hangul Jamo
    "\u2e80-\u2fdf"  # CJK and Kangxi radicals
    "\u3005-\u3007"  # iteration mark, closing mark, number zero
    "\u3021-\u3029\u3031-\u3035\u3038-\u303c"  # Hangzhou numerals, kana repeat marks
    "\u3040-\u30ff"  # Hiragana, Katakana
    "\u3100-\u31bf"  # Bopomofo, Hangul compatibility jamo, Bopomofo extended
    "\u31f0-\u31ff"  # Katakana phonetic extensions
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\ua960-\ua97f"  # Hangul Jamo extended A
    "\uac00-\ud7ff"  # Hangul syllables, Hangul Jamo extended B
    "\uf900-\ufaff"  # CJK compatibility ideographs
    "\uff66-\uffdc"  # halfwidth Katakana and Hangul
    "\U0001b000-\U0001b16f"  # Kana supplement and extensions
    "\U00020000-\U0003134f"  # CJK extensions B to G, compatibility supplement
)
_CJK = re.compile(f"[{_CJK_RANGES}]")
_HAS_CJK = _CJK.search
#: A word: a run of letters and digits. ``_`` separates words, as it does for
#: SQLite's and PostgreSQL's tokenizers.
_WORD = re.compile(r"[^\W_]+")


def _mark_ranges(points: Iterable[int]) -> str:
    """A character class body of the nonspacing and enclosing combining marks
    among *points*, but the kana voicing marks (が is not か)."""
    ranges: list[list[int]] = []
    for point in points:
        if point not in (0x3099, 0x309A) and unicodedata.category(chr(point)) in (
            "Mn",
            "Me",
        ):
            if ranges and ranges[-1][1] == point - 1:
                ranges[-1][1] = point
            else:
                ranges.append([point, point])
    return "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)


@functools.cache
def _marks() -> re.Pattern[str]:
    """The accents (combining marks) of this Python's Unicode data, found on
    first use. The astral ones sit behind a quick test (one class with them
    all takes five times as long on every character)."""
    bmp = _mark_ranges(range(0x300, 0x10000))
    astral = _mark_ranges(
        itertools.chain(range(0x10000, 0x20000), range(0xE0000, 0xE1000))
    )
    return re.compile(f"[{bmp}]+|(?=[\U00010000-\U0010ffff])[{astral}]+")


def fold(text: str) -> str:
    """The form of *text* that search compares: compatibility-decomposed (NFKD),
    case-folded, without accents (nonspacing combining marks; Hangul and kana
    are composed again), and with spaces around every CJK character so that
    each is a word of its own.

    Words are the runs of letters and digits in it; everything else (spaces,
    punctuation, ``_``, emoji, CJK punctuation) separates them.

    Example::

        >>> fold("Café 東京")
        'cafe  東  京 '
    """
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text).casefold()
    text = _marks().sub("", unicodedata.normalize("NFKD", text))
    text = unicodedata.normalize("NFC", text)
    return _CJK.sub(r" \g<0> ", text)


def words(text: str) -> list[str]:
    """The words of *text* as search sees them: the letter and digit runs of
    :func:`fold` (*text*)."""
    return _WORD.findall(fold(text))


def index_text(text: str) -> str:
    """What a store indexes for a message's *text*: its :func:`words`, each
    separated from the next by one space (a tokenizer that splits at spaces
    finds exactly the words search looks for)."""
    return " ".join(words(text))


# -- queries ------------------------------------------------------------------

#: At most this many terms and phrases together count in a query; more are
#: ignored.
MAX_PARTS = 10
#: A phrase of more words is cut to this many.
MAX_PHRASE_WORDS = 32

_TOKEN = re.compile(
    r"""
    (?P<key>(?i:from|in|after|before|during)):(?:"(?P<qvalue>[^"]*)"?|(?P<value>\S*))
    | "(?P<phrase>[^"]*)"?
    | (?P<word>[^\s"]+)
    """,
    re.VERBOSE,
)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DAY_MS = 86_400_000


def _day_start(key: str, value: str, now: int | None) -> int:
    """The epoch ms of 00:00 UTC of the day *value* names."""
    lowered = value.lower()
    if lowered in ("today", "yesterday"):
        now = int(time.time() * 1000) if now is None else now
        start = now - now % _DAY_MS
        return start - _DAY_MS if lowered == "yesterday" else start
    match = _DATE.fullmatch(value)
    try:
        if match is None:
            raise ValueError(value)
        day = datetime.date(*(int(part) for part in match.groups()))
    except ValueError:
        raise ValueError(
            f"{key}: wants a date such as 2026-12-03 (or today, yesterday),"
            f" not {value!r}."
        ) from None
    moment = datetime.datetime.combine(day, datetime.time(), datetime.timezone.utc)
    return int(moment.timestamp()) * 1000


def _name(key: str, value: str, strip: str) -> str:
    name = value.strip()
    if name[:1] == strip:
        name = name[1:].strip()
    if not name:
        what = "a name" if key == "from" else "a room"
        raise ValueError(
            f'{key}: needs {what}, such as {key}:alice or {key}:"Two Words".'
        )
    return name


def parse_query(text: str, *, now_ms: int | None = None) -> Query:
    """Read a search text: the words to look for and the filters.

    - A word becomes a term (folded, see :func:`fold`): a result has a word
      that starts with it. Terms of one letter or digit are dropped.
    - ``"quoted words"`` become a phrase: the words, whole, in this order.
    - A word with CJK characters in it becomes a phrase of its characters, so
      ``東京`` finds ``東京都`` (substring).
    - ``from:alice`` or ``from:"Alice Smith"`` (a user id or a display name;
      a leading ``@`` is dropped), ``in:room`` (a leading ``#`` is dropped),
      ``after:2026-12-01`` (from 00:00 UTC that day), ``before:2026-12-03``
      (up to 00:00 UTC that day), ``during:2026-12-02`` (that day, UTC); a
      date can also be ``today`` or ``yesterday`` (UTC, relative to *now_ms*).
      Filter names are case-insensitive; when one is given twice the last
      counts (dates narrow: the latest ``after``, the earliest ``before``).

    At most :data:`MAX_PARTS` terms and phrases count (the first ones); a
    repeated one counts once. Terms and phrase words are runs of letters and
    digits only, so nothing of a search's punctuation reaches a store's query
    language.

    :param now_ms: the time ``today`` means (epoch ms); default now.
    :raises ValueError: a filter's value is malformed (the message says how
        to write it).

    Example::

        >>> parse_query('Café "new york" from:alice')
        Query(terms=('cafe',), phrases=(('new', 'york'),), sender='alice', ...)
    """
    parts: list[str | tuple[str, ...]] = []
    sender: str | None = None
    room: str | None = None
    after: int | None = None
    before: int | None = None

    def add(part: str | tuple[str, ...]) -> None:
        if part and part not in parts:
            parts.append(part)

    for match in _TOKEN.finditer(text):
        key = match["key"]
        if key is not None:
            key = key.lower()
            value = match["qvalue"] if match["qvalue"] is not None else match["value"]
            if key == "from":
                sender = _name(key, value, "@")
            elif key == "in":
                room = _name(key, value, "#")
            else:
                start = _day_start(key, value.strip(), now_ms)
                if key in ("after", "during"):
                    after = start if after is None else max(after, start)
                if key in ("before", "during"):
                    end = start + _DAY_MS if key == "during" else start
                    before = end if before is None else min(before, end)
        elif match["phrase"] is not None:
            add(tuple(words(match["phrase"])[:MAX_PHRASE_WORDS]))
        else:
            found = words(match["word"])
            if any(_HAS_CJK(word) for word in found):
                add(tuple(found[:MAX_PHRASE_WORDS]))
            else:
                for word in found:
                    if len(word) > 1:
                        add(word)
    kept = parts[:MAX_PARTS]
    return Query(
        terms=tuple(part for part in kept if isinstance(part, str)),
        phrases=tuple(part for part in kept if isinstance(part, tuple)),
        sender=sender,
        room=room,
        after=after,
        before=before,
    )


def matches(indexed: Sequence[str], query: Query) -> bool:
    """Whether a text whose :func:`words` are *indexed* matches *query*'s words:
    each term starts a word, each phrase is a run of whole words (what every
    store's index answers)."""
    if query.empty:
        return False
    if not all(any(word.startswith(term) for word in indexed) for term in query.terms):
        return False
    for phrase in query.phrases:
        size = len(phrase)
        if not any(
            tuple(indexed[i : i + size]) == phrase
            for i in range(len(indexed) - size + 1)
        ):
            return False
    return True


# -- highlights ---------------------------------------------------------------


def _clusters(text: str) -> Iterator[tuple[int, int]]:
    """Spans of *text* that fold on their own: a character with the combining
    marks after it (and a Hangul syllable written as jamo)."""
    category = unicodedata.category
    start = 0
    for i in range(1, len(text)):
        ch = text[i]
        if category(ch)[0] == "M" or (
            "\u1160" <= ch <= "\u11ff" and "\u1100" <= text[i - 1] <= "\u11ff"
        ):
            continue
        yield start, i
        start = i
    if text:
        yield start, len(text)


def _located_words(text: str) -> list[tuple[str, int, int]]:
    """The :func:`words` of *text*, each with the span ``[start, end)`` of *text*
    it comes from."""
    if text.isascii():
        return [(m[0], m.start(), m.end()) for m in _WORD.finditer(text.lower())]
    pieces: list[str] = []
    owner: list[tuple[int, int]] = []
    for start, end in _clusters(text):
        piece = fold(text[start:end])
        pieces.append(piece)
        owner.extend([(start, end)] * len(piece))
    folded = "".join(pieces)
    return [
        (m[0], owner[m.start()][0], owner[m.end() - 1][1])
        for m in _WORD.finditer(folded)
    ]


def highlights(text: str, query: Query) -> list[tuple[int, int]]:
    """Where *query*'s words are in *text*: sorted, non-overlapping
    ``[start, end)`` spans of *text* (indices of ``str``, i.e. code points).

    A span covers each word whose fold starts with a term, and each run of
    words equal to a phrase's words (for a CJK phrase: the substring). Spans
    that overlap or touch are merged into one.

    Example::

        >>> highlights("Un café à New York", parse_query('cafe "new york"'))
        [(3, 7), (10, 18)]
    """
    if query.empty:
        return []
    located = _located_words(text)
    spans: list[tuple[int, int]] = []
    if query.terms:
        spans.extend(
            (start, end) for word, start, end in located if word.startswith(query.terms)
        )
    for phrase in query.phrases:
        size = len(phrase)
        for i in range(len(located) - size + 1):
            if all(located[i + k][0] == phrase[k] for k in range(size)):
                spans.append((located[i][1], located[i + size - 1][2]))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
