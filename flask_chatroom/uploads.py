"""Whether the chat takes an uploaded file, and what it stores.

:func:`check_upload` is the one gate for attachments. It decides the type from the
content (libmagic through python-magic, never the name or the client's header),
refuses what the host does not allow with an :class:`UploadRefused` that says why,
and returns a :class:`CheckedFile`:

- images (:data:`IMAGE_TYPES`) are decoded and re-encoded with Pillow, which drops
  EXIF (GPS included), XMP, comments and anything appended after the image data,
  after checking their size in pixels before decoding (decompression bombs); a
  WebP thumbnail comes with those larger than :data:`THUMBNAIL_SIZE`;
- PDF documents, zip archives and UTF-8 text are stored unchanged, after checking
  that they start as such files do;
- :func:`clean_name` makes the file's name safe to show and to send back, with an
  extension that fits the type.

Only the standard library, Pillow and python-magic are imported here.
"""

from __future__ import annotations

import io
import mimetypes
import struct
import unicodedata
import warnings
import zipfile
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, ImageSequence

#: The longest side of a thumbnail, in pixels.
THUMBNAIL_SIZE = 320

#: The types decoded and re-encoded with Pillow; only these are served inline.
IMAGE_TYPES: frozenset[str] = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp"}
)

#: The most frames an animated image may have.
MAX_FRAMES = 500

#: How many bytes of a file libmagic reads to name its type.
_SNIFF_BYTES = 16 * 1024

#: The longest name :func:`clean_name` returns.
_MAX_NAME = 120

#: The formats Pillow may report for each image type (a JPEG with several pictures,
#: as some phone cameras write, is read as MPO).
_PILLOW_FORMATS: dict[str, frozenset[str]] = {
    "image/png": frozenset({"PNG"}),
    "image/jpeg": frozenset({"JPEG", "MPO"}),
    "image/gif": frozenset({"GIF"}),
    "image/webp": frozenset({"WEBP"}),
}
#: The Pillow decoders tried, no others (MPO files are opened by the JPEG one).
_OPEN_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")

#: The Pillow format each image type is written in.
_SAVE_FORMATS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}

#: The modes each image type is written in; others are converted to RGB(A).
_MODES: dict[str, frozenset[str]] = {
    "image/png": frozenset({"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"}),
    "image/jpeg": frozenset({"L", "RGB"}),
    "image/gif": frozenset({"L", "P", "RGB", "RGBA"}),
    "image/webp": frozenset({"RGB", "RGBA"}),
}

#: What a file of a stored-unchanged type starts with.
_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "application/zip": (b"PK\x03\x04", b"PK\x05\x06"),
}

#: The only entries of an image's ``info`` kept when re-encoding: how to draw it,
#: not what it says about where it came from.
_KEEP_INFO = frozenset({"transparency", "duration", "loop", "background"})

#: Text subtypes a browser treats as more than text; never folded into text/plain.
_MARKUP = frozenset(
    {"html", "xml", "javascript", "ecmascript", "x-javascript", "css", "xsl"}
    | {"xslt", "x-sgml", "x-xml"}
)

#: Types libmagic names otherwise than the chat does.
_ALIASES = {"image/apng": "image/png", "image/x-png": "image/png"}

#: The extensions that fit a type, first the one appended when a name has none of
#: them. Text is kept to extensions no system runs (mimetypes also lists .bat).
_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "image/jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "image/png": (".png",),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
    "application/pdf": (".pdf",),
    "application/zip": (".zip",),
    "text/plain": (".txt", ".text", ".md", ".markdown", ".csv", ".tsv", ".log"),
}

#: Characters Windows does not allow in file names, replaced by ``_``.
_RESERVED = frozenset('<>:"|?*')

#: How a type is named in messages: (the kind, many of them; one of them).
_WORDS: dict[str, tuple[str, str]] = {
    "image/png": ("PNG images", "a PNG image"),
    "image/jpeg": ("JPEG images", "a JPEG image"),
    "image/gif": ("GIF images", "a GIF image"),
    "image/webp": ("WebP images", "a WebP image"),
    "application/pdf": ("PDF documents", "a PDF document"),
    "text/plain": ("plain text files", "a plain text file"),
    "application/zip": ("zip archives", "a zip archive"),
    "image/svg+xml": ("SVG images", "an SVG image"),
    "text/html": ("HTML pages", "an HTML page"),
    "text/xml": ("XML documents", "an XML document"),
    "application/xml": ("XML documents", "an XML document"),
    "application/json": ("JSON files", "a JSON file"),
    "application/javascript": ("JavaScript files", "a JavaScript file"),
    "text/javascript": ("JavaScript files", "a JavaScript file"),
    "application/x-dosexec": ("Windows programs", "a Windows program"),
    "application/x-executable": ("programs", "a program"),
    "application/x-pie-executable": ("programs", "a program"),
    "application/x-sharedlib": ("programs and libraries", "a program or library"),
    "application/x-mach-binary": ("programs", "a program"),
    "application/octet-stream": ("binary files", "binary data of no known type"),
    "application/x-empty": ("empty files", "empty"),
}


class UploadRefused(Exception):
    """An upload the chat does not take.

    :param code: what is wrong, for programs: ``"type_not_allowed"``,
        ``"content_mismatch"``, ``"too_large"``, ``"too_many_pixels"`` or
        ``"unreadable"``.
    :param message: what is wrong and what is allowed, for people.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        #: What is wrong, for programs.
        self.code = code
        #: What is wrong and what is allowed, for people.
        self.message = message


@dataclass(frozen=True)
class CheckedFile:
    """An upload the chat takes: what to store and how to serve it."""

    #: What to store: the re-encoded image, or the file's bytes unchanged.
    data: bytes
    #: The MIME type, decided from the content.
    type: str
    #: The name to show, from :func:`clean_name`, its extension fitting the type.
    name: str
    #: Whether the chat may serve it inline: only re-encoded raster images.
    inline: bool
    #: The stored image's width in pixels; ``None`` for other files.
    width: int | None = None
    #: The stored image's height in pixels; ``None`` for other files.
    height: int | None = None
    #: A WebP that fits in :data:`THUMBNAIL_SIZE` squared, for images larger than
    #: that.
    thumbnail: bytes | None = None
    #: ``"image/webp"`` when there is a thumbnail.
    thumbnail_type: str | None = None


def libmagic() -> Any:
    """python-magic, loaded (the first call finds libmagic, which runs
    ``ldconfig``: call it in the server's own thread before handing
    :func:`check_upload` to another).

    :raises RuntimeError: when libmagic cannot be loaded (Debian package
        ``libmagic1``).
    """
    try:
        import magic
    except (ImportError, OSError) as exc:
        raise RuntimeError(
            "Attachments need libmagic to tell file types apart, and python-magic "
            "could not load it; install the system package (Debian and Ubuntu: "
            f"apt-get install libmagic1). The error was: {exc}"
        ) from exc
    return magic


def sniff(data: bytes) -> str:
    """The MIME type of *data* from its content (libmagic via python-magic).

    libmagic reads the first 16 KiB. Text is normalised: any ``text/*`` type that
    is not markup (HTML, XML, SVG, JavaScript, CSS...) and whose whole content
    decodes as UTF-8 is ``"text/plain"``.

    :param data: the file's content.
    :raises RuntimeError: when libmagic cannot be loaded (Debian package
        ``libmagic1``).
    """
    magic = libmagic()
    try:
        found: str = magic.from_buffer(data[:_SNIFF_BYTES], mime=True)
    except magic.MagicException:
        return "application/octet-stream"
    found = _ALIASES.get(found, found)
    major, _, minor = found.partition("/")
    if (
        major == "text"
        and minor not in _MARKUP
        and not minor.endswith("+xml")
        and _is_utf8(data)
    ):
        return "text/plain"
    return found


def check_upload(
    data: bytes,
    name: str,
    allowed: Collection[str],
    *,
    max_bytes: int,
    max_pixels: int,
) -> CheckedFile:
    """Raise :class:`UploadRefused` or return what to store.

    The size is checked first, then the type named by :func:`sniff` against
    *allowed*; images are then checked and re-encoded, other files checked to
    start as their type does and kept unchanged.

    :param data: the uploaded file's content.
    :param name: the name the client gave it (only shown, never trusted).
    :param allowed: the MIME types the chat takes.
    :param max_bytes: the largest file taken, in bytes.
    :param max_pixels: the most pixels an image may have (width times height); an
        animation may have four times that over all its frames, and at most
        :data:`MAX_FRAMES` frames.
    :raises UploadRefused: with the code ``too_large``, ``type_not_allowed``,
        ``content_mismatch``, ``too_many_pixels`` or ``unreadable``.
    """
    if len(data) > max_bytes:
        raise UploadRefused(
            "too_large",
            f"Files may be at most {_size(max_bytes)}; this one is {_size(len(data))}.",
        )
    found = sniff(data)
    if found not in allowed:
        raise UploadRefused(
            "type_not_allowed",
            f"{_allowed_words(allowed)}; this file is {_one(found)} ({found}).",
        )
    if found in IMAGE_TYPES:
        return _check_image(data, name, found, max_pixels)
    signatures = _SIGNATURES.get(found)
    if signatures is not None and not data.startswith(signatures):
        raise UploadRefused(
            "content_mismatch",
            f"This file holds {_one(found)} ({found}) but does not start as one; "
            "files that are two things at once are not taken.",
        )
    if found == "application/zip" and not _is_zip(data):
        raise UploadRefused("unreadable", "This zip archive cannot be read.")
    if found == "text/plain" and not _is_utf8(data):
        raise UploadRefused(
            "unreadable", "Text files must be UTF-8; this one is in another encoding."
        )
    return CheckedFile(
        data=data, type=found, name=clean_name(name, found), inline=False
    )


def clean_name(name: str, type: str | None = None) -> str:
    """A file name safe to show and to put in a Content-Disposition header.

    Keeps only the last path component (after ``/`` or ``\\``); turns whitespace
    (tabs and line breaks too) into spaces; drops the other control and format
    characters (Unicode categories Cc and Cf: bidi overrides such as U+202E,
    zero-width characters); replaces the characters Windows does not allow
    (``<>:"|?*``) with ``_``; collapses whitespace; strips leading dots and spaces
    and trailing ones; keeps at most 120 characters with the extension; falls back
    to ``"file"``. Letters outside ASCII stay.

    When *type* is given and the name's extension is not one that type uses, the
    type's usual extension is appended: ``invoice.pdf.exe`` holding a PDF becomes
    ``invoice.pdf.exe.pdf``.

    :param name: the name the client gave.
    :param type: the MIME type of the content, when known.
    """
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        " " if ch.isspace() else "_" if ch in _RESERVED else ch
        for ch in name
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    name = " ".join(name.split()).lstrip(". ").rstrip(". ") or "file"
    stem, dot, extension = name.rpartition(".")
    extension = dot + extension if stem else ""
    stem = stem if stem else name
    if type is not None and extension.lower() not in _extensions(type):
        usual = _usual_extension(type)
        if usual:
            stem, extension = stem + extension, usual
    if len(extension) > _MAX_NAME // 4:
        stem, extension = stem + extension, ""
    stem = stem[: _MAX_NAME - len(extension)].rstrip(". ") or "file"
    return stem + extension


def _check_image(data: bytes, name: str, type: str, max_pixels: int) -> CheckedFile:
    """Check and re-encode an image whose content libmagic names *type*."""
    with warnings.catch_warnings():
        # Pillow warns when it opens an image above its own limit, and raises
        # above twice that. When max_pixels is below Pillow's limit, the warning
        # refuses the image (it is too big either way); otherwise it is ignored
        # and the check after Image.open, before any decoding, decides. Pillow's
        # error always refuses. Image.MAX_IMAGE_PIXELS is never changed here.
        pillow_limit = Image.MAX_IMAGE_PIXELS
        below = pillow_limit is not None and max_pixels < pillow_limit
        warnings.simplefilter(
            "error" if below else "ignore", Image.DecompressionBombWarning
        )
        try:
            with Image.open(io.BytesIO(data), formats=_OPEN_FORMATS) as image:
                if image.format not in _PILLOW_FORMATS[type]:
                    raise UploadRefused(
                        "content_mismatch",
                        f"This file looks like {_one(type)} ({type}) but reads as "
                        f"a {image.format} image.",
                    )
                _check_pixels(image.width, image.height, 1, max_pixels)
                if type in ("image/png", "image/webp"):
                    # Counted from the header; a GIF's frames are counted as they
                    # are decoded, below, and a JPEG keeps only its first picture.
                    _check_pixels(
                        image.width, image.height, _frame_count(image), max_pixels
                    )
                return _reencode(image, name, type, max_pixels)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise UploadRefused(
                "too_many_pixels",
                f"Images may have at most {_pixels(max_pixels)}; this one has "
                "more than can be read safely.",
            ) from exc
        except _PILLOW_ERRORS as exc:
            raise UploadRefused(
                "unreadable",
                f"This file looks like {_one(type)} ({type}) but cannot be read as "
                "one; it may be truncated or damaged.",
            ) from exc


#: What Pillow raises on content it cannot read (fuzzing finds all of these).
_PILLOW_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    OverflowError,
)


def _reencode(image: Image.Image, name: str, type: str, max_pixels: int) -> CheckedFile:
    """Decode every frame of *image* and write it again, without its metadata."""
    frames: list[Image.Image] = []
    durations: list[int] = []
    # A JPEG's further pictures (MPO: depth maps, previews) are not kept.
    sequence = [image] if type == "image/jpeg" else ImageSequence.Iterator(image)
    for index, frame in enumerate(sequence):
        _check_pixels(image.width, image.height, index + 1, max_pixels)
        duration = frame.info.get("duration")
        durations.append(int(duration) if isinstance(duration, (int, float)) else 0)
        frames.append(_clean_frame(frame, type))
    first = frames[0]
    options: dict[str, Any] = {}
    icc = image.info.get("icc_profile")
    if type == "image/jpeg":
        options.update(quality=90)
    elif type == "image/png":
        options.update(optimize=False)
    elif type == "image/webp":
        options.update(quality=90)
    if isinstance(icc, bytes) and icc and type != "image/gif":
        options["icc_profile"] = icc
    if len(frames) > 1:
        options.update(save_all=True, append_images=frames[1:], duration=durations)
        loop = image.info.get("loop")
        if isinstance(loop, int):
            options["loop"] = loop
    out = io.BytesIO()
    first.save(out, _SAVE_FORMATS[type], **options)
    thumbnail = None
    if max(first.size) > THUMBNAIL_SIZE:
        thumbnail = _thumbnail(first)
    return CheckedFile(
        data=out.getvalue(),
        type=type,
        name=clean_name(name, type),
        inline=True,
        width=first.width,
        height=first.height,
        thumbnail=thumbnail,
        thumbnail_type="image/webp" if thumbnail is not None else None,
    )


def _clean_frame(frame: Image.Image, type: str) -> Image.Image:
    """A decoded copy of *frame*, turned upright, in a mode *type* can hold, and
    with nothing in its ``info`` but how to draw it."""
    clean = ImageOps.exif_transpose(frame)
    clean.load()
    clean.info = {key: value for key, value in frame.info.items() if key in _KEEP_INFO}
    if type == "image/jpeg" and clean.mode not in ("L", "RGB"):
        # CMYK, and whatever else a JPEG decodes to, is shown as RGB.
        return clean.convert("RGB")
    if clean.mode not in _MODES[type]:
        return clean.convert("RGBA" if clean.has_transparency_data else "RGB")
    return clean


def _thumbnail(image: Image.Image) -> bytes:
    """*image* made to fit in :data:`THUMBNAIL_SIZE` squared, as WebP."""
    small = image.convert("RGBA" if image.has_transparency_data else "RGB")
    small.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    out = io.BytesIO()
    small.save(out, "WEBP", quality=80)
    return out.getvalue()


def _check_pixels(width: int, height: int, frames: int, max_pixels: int) -> None:
    """Refuse an image of *frames* frames of *width* by *height* if it is too big."""
    pixels = width * height
    if pixels > max_pixels:
        raise UploadRefused(
            "too_many_pixels",
            f"Images may have at most {_pixels(max_pixels)}; this one is "
            f"{width} x {height} ({_pixels(pixels)}).",
        )
    if frames > MAX_FRAMES or frames * pixels > max_pixels:
        raise UploadRefused(
            "too_many_pixels",
            f"Animations may have at most {MAX_FRAMES} frames and "
            f"{_pixels(max_pixels)} over all of them; this one has "
            f"{'more than ' if frames > MAX_FRAMES else ''}{frames} frames of "
            f"{width} x {height}.",
        )


def _frame_count(image: Image.Image) -> int:
    """How many frames *image* says it has (1 for a still image)."""
    count = getattr(image, "n_frames", 1)
    return count if isinstance(count, int) else 1


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_zip(data: bytes) -> bool:
    """Whether *data* is a zip archive whose list of members can be read."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False
    return True


def _extensions(type: str) -> frozenset[str]:
    """The extensions a file of *type* may have, lower case with their dot."""
    known = _EXTENSIONS.get(type)
    if known is not None:
        return frozenset(known)
    return frozenset(mimetypes.guess_all_extensions(type))


def _usual_extension(type: str) -> str:
    """The extension a file of *type* usually has, or ``""`` when none is known."""
    known = _EXTENSIONS.get(type)
    if known is not None:
        return known[0]
    return mimetypes.guess_extension(type) or ""


def _allowed_words(allowed: Collection[str]) -> str:
    """*allowed* in words: ``"PNG images, PDF documents and zip archives are
    allowed"``."""
    kinds = list(dict.fromkeys(_many(type) for type in sorted(allowed, key=_order)))
    if not kinds:
        return "No files are allowed"
    listed = (
        kinds[-1] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} and {kinds[-1]}"
    )
    return f"{listed[0].upper()}{listed[1:]} are allowed"


def _order(type: str) -> tuple[int, str]:
    """Known types first, in the order of :data:`_WORDS`."""
    order = list(_WORDS)
    return (order.index(type), type) if type in _WORDS else (len(order), type)


def _many(type: str) -> str:
    return _WORDS[type][0] if type in _WORDS else f"{type} files"


def _one(type: str) -> str:
    return _WORDS[type][1] if type in _WORDS else f"a file of type {type}"


def _size(count: int) -> str:
    """A size in bytes for people: ``"10 MB"``, ``"512 KB"``, ``"12 bytes"``."""
    for unit, scale in (("MB", 1024 * 1024), ("KB", 1024)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} bytes"


def _pixels(count: int) -> str:
    """A number of pixels for people: ``"40 million pixels"``."""
    if count >= 1_000_000:
        return f"{count / 1_000_000:.3g} million pixels"
    return f"{count} pixels"
