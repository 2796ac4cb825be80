"""Full-text search of messages: what a search text asks for (:class:`Query`,
:func:`parse_query`), the text a store indexes (:func:`index_text`), and
where a result's words matched (:func:`highlights`).

Stores index :func:`index_text` of each message's current text and look the
query's words up in it; the same folding on both sides makes a search
case- and accent-insensitive, and CJK text searchable by substring.
"""

from __future__ import annotations

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
