"""Search text: folding, what a store indexes, reading a search, highlights."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flask_chatroom.search import (
    MAX_PARTS,
    Query,
    fold,
    highlights,
    index_text,
    parse_query,
    words,
)

DAY = 86_400_000


def ms(year: int, month: int, day: int) -> int:
    moment = datetime.datetime(year, month, day, tzinfo=datetime.timezone.utc)
    return int(moment.timestamp()) * 1000


def marked(text: str, query: Query) -> list[str]:
    return [text[start:end] for start, end in highlights(text, query)]


# -- folding and indexing -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "indexed"),
    [
        ("Hello, World!", "hello world"),
        ("Café crème BRÛLÉE", "cafe creme brulee"),
        ("Cafe\u0301", "cafe"),  # decomposed accent
        ("Straße İstanbul ΣΊΣΥΦΟΣ", "strasse istanbul σισυφοσ"),
        ("ﬁne ①", "fine 1"),  # compatibility forms
        ("東京都に行く", "東 京 都 に 行 く"),
        ("ＴＯＫＹＯ東京", "tokyo 東 京"),  # fullwidth Latin
        ("한국어 공부", "한 국 어 공 부"),  # syllables, not jamo
        ("がぎ", "が ぎ"),  # voicing marks are no accents
        ("「東京」。", "東 京"),  # CJK punctuation separates
        ("snake_case e-mail 3.14", "snake case e mail 3 14"),
        ("party 🎉🎉 time👍", "party time"),
        ("   \t\n", ""),
    ],
)
def test_index_text(text: str, indexed: str) -> None:
    assert index_text(text) == indexed
    assert words(text) == indexed.split()


def test_fold_keeps_separators_and_spaces_cjk() -> None:
    assert fold("ABC-def") == "abc-def"
    assert fold("Ça 東京").split() == ["ca", "東", "京"]


# -- reading a search ---------------------------------------------------------------


def test_words_become_folded_prefix_terms() -> None:
    query = parse_query("  Café   CRÈME ")
    assert query.terms == ("cafe", "creme")
    assert query.phrases == ()
    assert not query.empty


def test_one_letter_terms_are_dropped_but_not_cjk() -> None:
    assert parse_query("a b 5 go").terms == ("go",)
    assert parse_query("東").phrases == (("東",),)
    assert parse_query("a").empty


def test_quoted_phrases() -> None:
    query = parse_query('"New York" pizza "a b"')
    assert query.terms == ("pizza",)
    assert query.phrases == (("new", "york"), ("a", "b"))
    # An unclosed quote runs to the end; an empty one is nothing.
    assert parse_query('"hot dog').phrases == (("hot", "dog"),)
    assert parse_query('"" x"').empty


def test_cjk_words_become_phrases_of_their_characters() -> None:
    assert parse_query("東京").phrases == (("東", "京"),)
    assert parse_query("한국어").phrases == (("한", "국", "어"),)
    assert parse_query("東京tower").phrases == (("東", "京", "tower"),)


def test_punctuation_never_reaches_a_term() -> None:
    query = parse_query("foo* OR (bar) NEAR/2 \"x\" ^baz -qux col:umn 'quote'")
    assert query.terms == (
        "foo",
        "or",
        "bar",
        "near",
        "baz",
        "qux",
        "col",
        "umn",
        "quote",
    )
    for term in query.terms:
        assert term.isalnum()


def test_repeats_count_once_and_parts_are_capped() -> None:
    assert parse_query("cat Cat CAT").terms == ("cat",)
    many = " ".join(f"w{i}" for i in range(MAX_PARTS + 5))
    assert parse_query(many).terms == tuple(f"w{i}" for i in range(MAX_PARTS))
    mixed = parse_query('"p q" ' + many)
    assert mixed.phrases == (("p", "q"),)
    assert len(mixed.terms) == MAX_PARTS - 1


def test_emoji_only_search_is_empty() -> None:
    assert parse_query("🎉 👍🏽").empty


def test_filters() -> None:
    query = parse_query(
        'lunch from:"Alice Smith" IN:#general after:2026-12-01 before:2026-12-03'
    )
    assert query.terms == ("lunch",)
    assert query.sender == "Alice Smith"
    assert query.room == "general"
    assert query.after == ms(2026, 12, 1)
    assert query.before == ms(2026, 12, 3)


def test_filter_values_are_not_folded() -> None:
    query = parse_query("from:@Zoë in:Café-Talk x")
    assert query.sender == "Zoë"
    assert query.room == "Café-Talk"
    assert query.empty


def test_during_is_that_day_and_dates_narrow() -> None:
    query = parse_query("during:2026-02-28 x")
    assert (query.after, query.before) == (ms(2026, 2, 28), ms(2026, 3, 1))
    query = parse_query(
        "after:2026-01-01 after:2026-02-01 before:2026-05-01 before:2026-04-01"
    )
    assert (query.after, query.before) == (ms(2026, 2, 1), ms(2026, 4, 1))


def test_today_and_yesterday() -> None:
    now = ms(2026, 12, 3) + 5 * 3_600_000
    query = parse_query("after:yesterday before:today", now_ms=now)
    assert (query.after, query.before) == (ms(2026, 12, 2), ms(2026, 12, 3))


def test_a_word_with_a_colon_is_no_filter() -> None:
    query = parse_query("https://example.com note:this")
    assert query.terms == ("https", "example", "com", "note", "this")
    assert query.sender is None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("after:2026-13-01", "after: wants a date"),
        ("before:2026-02-30", "before: wants a date"),
        ("during:yesterdayish", "during: wants a date"),
        ("after:26-12-01", "after: wants a date"),
        ("after:", "after: wants a date"),
        ("from:", "from: needs a name"),
        ('from:"  "', "from: needs a name"),
        ("from:@", "from: needs a name"),
        ("in:#", "in: needs a room"),
    ],
)
def test_malformed_filters(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_query(text + " words")


# -- highlights -----------------------------------------------------------------------


def test_highlights_terms_by_prefix() -> None:
    query = parse_query("caf new")
    assert marked("Le Café, newer CAFES, renew", query) == ["Café", "newer", "CAFES"]


def test_highlights_accented_and_decomposed_text() -> None:
    text = "Cafe\u0301 BRU\u0302LE\u0301E et crème"
    query = parse_query("cafe brulee creme")
    assert marked(text, query) == ["Cafe\u0301", "BRU\u0302LE\u0301E", "crème"]


def test_highlights_phrases() -> None:
    query = parse_query('"new york"')
    text = "New  York, new-york; new jersey York"
    assert marked(text, query) == ["New  York", "new-york"]


def test_highlights_cjk_substrings() -> None:
    query = parse_query("東京")
    text = "東京都に行く。東 京!京東"
    assert highlights(text, query) == [(0, 2), (7, 10)]
    assert marked("한국어를 배워요", parse_query("한국")) == ["한국"]


def test_highlights_count_code_points_past_astral_characters() -> None:
    text = "🎉\U0001d4b3 Café 🎉 café"  # an emoji, a math letter: astral
    query = parse_query("cafe")
    assert highlights(text, query) == [(3, 7), (10, 14)]
    assert marked(text, query) == ["Café", "café"]


def test_highlights_merge_overlaps() -> None:
    query = parse_query('"new york" york')
    assert marked("in New York today", query) == ["New York"]
    assert highlights("東京東京", parse_query("東京")) == [(0, 4)]


def test_nothing_to_highlight() -> None:
    assert highlights("anything", Query(sender="x")) == []
    assert highlights("", parse_query("word")) == []


letters = st.sampled_from(
    [
        *"aAeEéÉiİßs東京都한국ｶ",
        "\u0131",  # dotless i
        "\u017f",  # long s
        "e\u0301",
        "\u0301",
        "\ufb01",  # fi ligature
        "½",
        "🎉",
        "\U0001d4b3",  # mathematical script X
        " ",
        "-",
        "_",
        '"',
    ]
)
texts = st.lists(letters, max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=texts, search=texts)
def test_highlights_are_in_bounds_sorted_apart_and_match(
    text: str, search: str
) -> None:
    query = parse_query(search)
    spans = highlights(text, query)
    previous_end = -1
    for start, end in spans:
        assert 0 <= start < end <= len(text)
        assert start > previous_end
        previous_end = end
        marked_words = words(text[start:end])
        assert any(word.startswith(query.terms) for word in marked_words) or any(
            marked_words[i : i + len(phrase)] == list(phrase)
            for phrase in query.phrases
            for i in range(len(marked_words))
        ), (text, search, start, end)


@settings(max_examples=300, deadline=None)
@given(text=texts)
def test_every_indexed_word_is_found_and_marked(text: str) -> None:
    for word in set(index_text(text).split()):
        query = parse_query(f'"{word}"')
        assert highlights(text, query), (text, word)
