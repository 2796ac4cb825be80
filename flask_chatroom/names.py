"""What a name may hold, and when two names look alike.

Two Unicode facts that Python's :mod:`unicodedata` does not expose are kept here:

- the ``Default_Ignorable_Code_Point`` property (Unicode's
  ``DerivedCoreProperties.txt``): code points a renderer shows as nothing, such as
  U+200B ZERO WIDTH SPACE, U+034F COMBINING GRAPHEME JOINER or U+3164 HANGUL
  FILLER. With them ``Ada`` and ``Ada\\u034f`` are two names that look the same;
- the confusable *skeleton* of Unicode Technical Standard #39 (section 4), which
  maps each character to a prototype that looks like it (Cyrillic ``а`` and
  Latin ``a``, ``0`` and ``O``, ``I`` and ``l``, ``rn`` and ``m``), so that
  look-alike names get the same skeleton.

No maintained, small Python library computes the skeleton (checked on PyPI in
December 2026: ``confusable_homoglyphs`` has no skeleton, only a per-script
check, and its last release is from January 2024; ``confusables`` was last
released in 2021; ``disarm`` is a 4.6 MB compiled beta), and Python does not ship
``confusables.txt``. :func:`skeleton` therefore follows the algorithm of UTS #39
with the data Python has (NFKD's compatibility mappings fold fullwidth,
mathematical, circled and ligature forms) plus :data:`CONFUSABLES`: the entries
of ``confusables.txt`` whose prototype is an ASCII letter or digit, from the
scripts that look most like Latin (Cyrillic, Greek, and ASCII itself). It catches
the look-alikes people type; it is not the full table.
"""

from __future__ import annotations

import unicodedata

#: The ``Default_Ignorable_Code_Point`` ranges (Unicode 15.1, inclusive).
DEFAULT_IGNORABLE: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)

_ZWJ = "\u200d"
_EMOJI_PRESENTATION = "\ufe0f"
_TEXT_PRESENTATION = "\ufe0e"


def is_default_ignorable(ch: str) -> bool:
    """Whether *ch* is a ``Default_Ignorable_Code_Point``."""
    code = ord(ch)
    return any(low <= code <= high for low, high in DEFAULT_IGNORABLE)


def is_invisible(ch: str) -> bool:
    """Whether *ch* is default-ignorable or a format character (category Cf)."""
    return is_default_ignorable(ch) or unicodedata.category(ch) == "Cf"


def _is_emoji(ch: str) -> bool:
    # Emoji are "other symbols"; U+1F3FB..1F3FF (skin tones) are modifier symbols.
    return unicodedata.category(ch) == "So" or 0x1F3FB <= ord(ch) <= 0x1F3FF


def invisible_characters(name: str) -> list[str]:
    """The default-ignorable and format characters in *name*, except the two that
    emoji are built with: U+200D ZERO WIDTH JOINER between two emoji (``👩‍💻``)
    and a presentation selector (U+FE0E, U+FE0F) right after an emoji (``❤️``)."""
    found = []
    for index, ch in enumerate(name):
        if not is_invisible(ch):
            continue
        before = name[index - 1] if index else ""
        after = name[index + 1] if index + 1 < len(name) else ""
        if ch in (_EMOJI_PRESENTATION, _TEXT_PRESENTATION) and _is_emoji(before):
            continue
        if ch == _ZWJ and after and _is_emoji(after):
            if _is_emoji(before):
                continue
            if (
                before == _EMOJI_PRESENTATION
                and index >= 2
                and _is_emoji(name[index - 2])
            ):
                continue
        found.append(ch)
    return found


def has_visible_character(name: str) -> bool:
    """Whether *name* shows something: a letter, digit, punctuation or symbol that
    is not a blank (U+2800 BRAILLE PATTERN BLANK) nor default-ignorable."""
    return any(
        unicodedata.category(ch)[0] in "LNPS"
        and ch != "\u2800"
        and not is_default_ignorable(ch)
        for ch in name
    )


# -- the skeleton -------------------------------------------------------------------

#: Entries of Unicode's ``confusables.txt`` (source -> prototype) whose prototype
#: is ASCII: Cyrillic, Greek and ASCII look-alikes of Latin letters and digits.
CONFUSABLES: dict[str, str] = {
    # ASCII itself
    "0": "O",
    "1": "l",
    "I": "l",
    "|": "l",
    "m": "rn",
    # Cyrillic capitals
    "\u0405": "S",  # Ѕ
    "\u0406": "l",  # І
    "\u0408": "J",  # Ј
    "\u0410": "A",  # А
    "\u0412": "B",  # В
    "\u0415": "E",  # Е
    "\u0417": "3",  # З
    "\u041a": "K",  # К
    "\u041c": "M",  # М
    "\u041d": "H",  # Н
    "\u041e": "O",  # О
    "\u0420": "P",  # Р
    "\u0421": "C",  # С
    "\u0422": "T",  # Т
    "\u0425": "X",  # Х
    "\u0474": "V",  # Ѵ
    "\u04ae": "Y",  # Ү
    "\u04c0": "l",  # Ӏ
    "\u051a": "Q",  # Ԛ
    "\u051c": "W",  # Ԝ
    # Cyrillic small letters
    "\u0430": "a",  # а
    "\u0435": "e",  # е
    "\u043e": "o",  # о
    "\u0440": "p",  # р
    "\u0441": "c",  # с
    "\u0443": "y",  # у
    "\u0445": "x",  # х
    "\u0455": "s",  # ѕ
    "\u0456": "i",  # і
    "\u0458": "j",  # ј
    "\u0475": "v",  # ѵ
    "\u04bb": "h",  # һ
    "\u04cf": "l",  # ӏ
    "\u0501": "d",  # ԁ
    "\u051b": "q",  # ԛ
    "\u051d": "w",  # ԝ
    # Greek capitals
    "\u0391": "A",  # Α
    "\u0392": "B",  # Β
    "\u0395": "E",  # Ε
    "\u0396": "Z",  # Ζ
    "\u0397": "H",  # Η
    "\u0399": "l",  # Ι
    "\u039a": "K",  # Κ
    "\u039c": "M",  # Μ
    "\u039d": "N",  # Ν
    "\u039f": "O",  # Ο
    "\u03a1": "P",  # Ρ
    "\u03a4": "T",  # Τ
    "\u03a5": "Y",  # Υ
    "\u03a7": "X",  # Χ
    # Greek small letters
    "\u03b1": "a",  # α
    "\u03b3": "y",  # γ
    "\u03b9": "i",  # ι
    "\u03bd": "v",  # ν
    "\u03bf": "o",  # ο
    "\u03c1": "p",  # ρ
    "\u03c5": "u",  # υ
    "\u03f2": "c",  # ϲ
    "\u03f3": "j",  # ϳ
    # Latin look-alikes outside ASCII
    "\u0261": "g",  # ɡ
    "\u0131": "i",  # ı
}
_CONFUSABLES_TABLE = str.maketrans(CONFUSABLES)


def skeleton(text: str) -> str:
    """The UTS #39 skeleton of *text* (with :data:`CONFUSABLES` as the table):
    NFKD, without default-ignorable code points, each character replaced by its
    prototype, NFKD again. Two strings with the same skeleton look alike."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not is_default_ignorable(ch))
    return unicodedata.normalize("NFKD", text.translate(_CONFUSABLES_TABLE))


def name_keys(name: str) -> frozenset[str]:
    """What *name* is compared by: its skeleton, case-folded, and the skeleton of
    its case-folded form (so ``ILSE`` meets ``ilse`` and ``Ilse`` meets ``llse``).
    Two names look alike when their keys meet (:func:`look_alike`)."""
    return frozenset(
        skeleton(skeleton(form).casefold()) for form in (name, name.casefold())
    )


def look_alike(name: str, other: str) -> bool:
    """Whether *name* and *other* could be taken for each other: the same
    skeleton, compared case-insensitively."""
    return not name_keys(name).isdisjoint(name_keys(other))
