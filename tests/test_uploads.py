"""Which uploads the chat takes and what it stores (flask_chatroom.uploads).

Every file here is real: images drawn with Pillow, archives written with
:mod:`zipfile`, PDFs, pages and programs written byte by byte. Images come back
re-encoded (no EXIF, GPS, comments or appended data; turned upright), other files
unchanged; the type is always the content's, whatever the name says.
"""

from __future__ import annotations

import io
import struct
import sys
import time
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageSequence
from PIL.PngImagePlugin import PngInfo

from flask_chatroom.config import DEFAULT_ATTACHMENT_TYPES
from flask_chatroom.uploads import (
    IMAGE_TYPES,
    THUMBNAIL_SIZE,
    CheckedFile,
    UploadRefused,
    check_upload,
    clean_name,
    sniff,
)

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000


def check(
    data: bytes,
    name: str = "upload",
    allowed: tuple[str, ...] = DEFAULT_ATTACHMENT_TYPES,
    *,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
) -> CheckedFile:
    return check_upload(data, name, allowed, max_bytes=max_bytes, max_pixels=max_pixels)


def refused(data: bytes, name: str = "upload", **kwargs: Any) -> UploadRefused:
    with pytest.raises(UploadRefused) as info:
        check(data, name, **kwargs)
    return info.value


def image_bytes(image: Image.Image, format: str, **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format, **options)
    return out.getvalue()


def picture(size: tuple[int, int] = (64, 48), mode: str = "RGB") -> Image.Image:
    """Gradients, so that re-encoding has something to keep (alpha 200 in RGBA)."""
    gradient = Image.linear_gradient("L")
    down = gradient.resize(size)
    across = gradient.transpose(Image.Transpose.ROTATE_90).resize(size)
    bands = [across, down, Image.new("L", size, 128), Image.new("L", size, 200)]
    return Image.merge(mode, bands[: len(mode)])


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def frame_count(data: bytes) -> int:
    return int(getattr(Image.open(io.BytesIO(data)), "n_frames", 1))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(kind + body))
    )


def png_claiming(width: int, height: int) -> bytes:
    """A PNG of a few dozen bytes whose header claims *width* x *height* pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )


def gif_claiming(width: int, height: int) -> bytes:
    """A GIF of a few dozen bytes whose screen and frame claim *width* x *height*."""
    return (
        b"GIF89a"
        + struct.pack("<HHBBB", width, height, 0, 0, 0)
        + b","
        + struct.pack("<HHHHB", 0, 0, width, height, 0)
        + b"\x02\x02\x4c\x01\x00;"
    )


def animation(format: str, frames: int = 4, size: tuple[int, int] = (40, 30)) -> bytes:
    """*frames* frames of different colours, the n-th shown for n tenths of a second."""
    images = [Image.new("RGB", size, (60 * i % 256, 40, 200)) for i in range(frames)]
    return image_bytes(
        images[0],
        format,
        save_all=True,
        append_images=images[1:],
        duration=[100 * (i + 1) for i in range(frames)],
        loop=0,
    )


def small_pdf() -> bytes:
    """A one-page PDF written by hand, with a correct cross-reference table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R >>",
        b"<< /Length 0 >>\nstream\n\nendstream",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    return out + b"startxref\n%d\n%%%%EOF\n" % xref


def small_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("notes/a.txt", "hello " * 100)
        archive.writestr("b.bin", bytes(range(256)))
    return out.getvalue()


HTML = (
    b"<!DOCTYPE html>\n<html><body><script>alert(document.cookie)</script>"
    b"</body></html>\n"
)
SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" '
    b'height="10"><script>alert(1)</script><rect width="10" height="10"/></svg>\n'
)
JAVASCRIPT = b'"use strict";\nconst fs = require("fs");\nmodule.exports = fs;\n'
WINDOWS_EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\0" * 112


def elf_program() -> bytes:
    """The first bytes of the Python interpreter running these tests."""
    with open(sys.executable, "rb") as program:
        return program.read(16 * 1024)


# -- what the chat takes ----------------------------------------------------------


def test_png_with_alpha_is_reencoded_as_png_keeping_its_transparency() -> None:
    source = picture((64, 48), "RGBA")
    checked = check(image_bytes(source, "PNG"), "logo.png")
    assert (checked.type, checked.name, checked.inline) == (
        "image/png",
        "logo.png",
        True,
    )
    assert (checked.width, checked.height) == (64, 48)
    stored = opened(checked.data)
    assert stored.format == "PNG" and stored.mode == "RGBA"
    assert stored.getpixel((5, 5)) == source.getpixel((5, 5))
    assert checked.thumbnail is None and checked.thumbnail_type is None


def test_png_with_a_palette_and_transparency_keeps_both() -> None:
    source = Image.new("P", (30, 30), 1)
    source.putpalette([255, 0, 0, 0, 255, 0] + [0, 0, 0] * 254)
    source.paste(0, (0, 0, 10, 10))
    stored = opened(check(image_bytes(source, "PNG", transparency=0)).data)
    rgba = stored.convert("RGBA")
    assert rgba.getpixel((2, 2)) == (255, 0, 0, 0)
    assert rgba.getpixel((20, 20)) == (0, 255, 0, 255)


def test_jpeg_is_reencoded_as_jpeg() -> None:
    checked = check(image_bytes(picture((200, 100)), "JPEG", quality=95), "cat.JPG")
    assert (checked.type, checked.name, checked.inline) == (
        "image/jpeg",
        "cat.JPG",
        True,
    )
    assert opened(checked.data).format == "JPEG"
    assert (checked.width, checked.height) == (200, 100)


def test_cmyk_jpeg_is_stored_as_rgb() -> None:
    checked = check(image_bytes(picture((50, 50)).convert("CMYK"), "JPEG"))
    assert opened(checked.data).mode == "RGB"


def test_animated_gif_stays_animated_with_its_timing() -> None:
    checked = check(animation("GIF"), "dance.gif")
    assert checked.type == "image/gif" and checked.inline
    stored = Image.open(io.BytesIO(checked.data))
    assert stored.format == "GIF" and frame_count(checked.data) == 4
    durations = [frame.info["duration"] for frame in ImageSequence.Iterator(stored)]
    assert durations == [100, 200, 300, 400]
    assert stored.info.get("loop") == 0


def test_webp_is_reencoded_as_webp() -> None:
    checked = check(image_bytes(picture((80, 60), "RGBA"), "WEBP"), "sticker.webp")
    assert (checked.type, checked.name, checked.inline) == (
        "image/webp",
        "sticker.webp",
        True,
    )
    stored = opened(checked.data)
    assert stored.format == "WEBP" and stored.mode == "RGBA"


def test_animated_webp_stays_animated() -> None:
    assert frame_count(check(animation("WEBP", 3)).data) == 3


@pytest.mark.parametrize(
    "pdf", [small_pdf(), image_bytes(Image.new("RGB", (20, 20)), "PDF")]
)
def test_pdf_is_stored_unchanged_and_never_inline(pdf: bytes) -> None:
    checked = check(pdf, "report.pdf")
    assert checked == CheckedFile(
        data=pdf, type="application/pdf", name="report.pdf", inline=False
    )


def test_zip_made_with_zipfile_is_stored_unchanged() -> None:
    archive = small_zip()
    checked = check(archive, "notes.zip")
    assert (checked.type, checked.data, checked.inline) == (
        "application/zip",
        archive,
        False,
    )


def test_utf8_text_is_stored_unchanged_as_plain_text() -> None:
    text = "Crème brûlée à l'œuf\n日本語のテキスト\n😀🎉 done\n".encode()
    checked = check(text, "menu.txt")
    assert (checked.type, checked.data, checked.name, checked.inline) == (
        "text/plain",
        text,
        "menu.txt",
        False,
    )


def test_source_code_is_plain_text_with_a_txt_name() -> None:
    source = b"import os\n\n\ndef main():\n    print(os.getcwd())\n"
    assert sniff(source) == "text/plain"
    assert check(source, "tool.py").name == "tool.py.txt"


def test_text_that_is_not_utf8_is_refused() -> None:
    error = refused("Crème brûlée, déjà vu, naïve café\n".encode("latin-1"))
    assert error.code == "unreadable" and "UTF-8" in error.message


# -- metadata goes, orientation stays -----------------------------------------------


def test_exif_with_gps_is_removed_and_the_orientation_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: turn 90 degrees clockwise to show.
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    source = image_bytes(picture((120, 80)), "JPEG", exif=exif)
    assert 0x8825 in opened(source).getexif()

    checked = check(source, "holiday.jpg")

    stored = opened(checked.data)
    assert dict(stored.getexif()) == {}
    assert b"PhoneMaker" not in checked.data and b"Exif" not in checked.data
    assert stored.size == (80, 120) == (checked.width, checked.height)


def test_comments_and_text_chunks_are_removed() -> None:
    jpeg = image_bytes(picture(), "JPEG", comment=b"secret comment")
    assert b"secret comment" in jpeg
    assert b"secret comment" not in check(jpeg).data

    info = PngInfo()
    info.add_text("Author", "secret author")
    info.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta>secret xmp</x:xmpmeta>")
    png = image_bytes(picture(), "PNG", pnginfo=info)
    assert b"secret author" in png
    stored = check(png).data
    assert b"secret" not in stored and b"xmp" not in stored


# -- what the chat refuses ----------------------------------------------------------


def test_html_named_png_is_refused() -> None:
    error = refused(HTML, "photo.png")
    assert error.code == "type_not_allowed"
    assert "(text/html)" in error.message and "PNG images" in error.message


@pytest.mark.parametrize("name", ["cute.png", "drawing.svg"])
def test_svg_with_a_script_is_refused_whatever_its_name(name: str) -> None:
    error = refused(SVG, name)
    assert error.code == "type_not_allowed"
    assert error.message == (
        "PNG images, JPEG images, GIF images, WebP images, PDF documents, plain "
        "text files and zip archives are allowed; this file is an SVG image "
        "(image/svg+xml)."
    )


def test_svg_or_html_allowed_by_the_host_is_never_inline() -> None:
    allowed = (*DEFAULT_ATTACHMENT_TYPES, "image/svg+xml", "text/html")
    svg = check(SVG, "drawing", allowed)
    page = check(HTML, "page.html", allowed)
    assert (svg.type, svg.inline, svg.data, svg.name) == (
        "image/svg+xml",
        False,
        SVG,
        "drawing.svg",
    )
    assert (page.type, page.inline, page.name) == ("text/html", False, "page.html")


def test_javascript_is_refused() -> None:
    assert sniff(JAVASCRIPT) == "application/javascript"
    assert refused(JAVASCRIPT, "app.js").code == "type_not_allowed"


@pytest.mark.parametrize(
    ("program", "name"),
    [(elf_program, "tool"), (elf_program, "cat.jpg"), (lambda: WINDOWS_EXE, "a.pdf")],
)
def test_programs_are_refused_even_under_an_allowed_name(
    program: Callable[[], bytes], name: str
) -> None:
    data = program()
    error = refused(data, name)
    assert error.code == "type_not_allowed" and "program" in error.message


def test_png_with_html_appended_is_stored_without_it() -> None:
    source = image_bytes(picture(), "PNG") + HTML
    checked = check(source, "photo.png")
    assert checked.type == "image/png"
    assert b"<script>" not in checked.data and b"html" not in checked.data


def test_jpeg_with_a_zip_appended_is_stored_without_it() -> None:
    source = image_bytes(picture(), "JPEG") + small_zip()
    checked = check(source, "photo.jpg")
    assert checked.type == "image/jpeg"
    assert b"PK\x03\x04" not in checked.data
    assert not zipfile.is_zipfile(io.BytesIO(checked.data))


def test_html_holding_a_pdf_is_refused() -> None:
    polyglot = b"<html><body><script>alert(1)</script>\n" + small_pdf()
    assert sniff(polyglot) == "application/pdf"  # libmagic finds the PDF inside
    error = refused(polyglot, "paper.pdf")
    assert error.code == "content_mismatch"
    assert "does not start as one" in error.message


def test_zip_behind_other_bytes_is_not_taken_as_a_zip() -> None:
    error = refused(HTML + small_zip(), "archive.zip")
    assert error.code in {"type_not_allowed", "content_mismatch"}


def test_too_large_is_refused_before_parsing() -> None:
    bomb = png_claiming(100_000, 100_000)
    error = refused(bomb, max_bytes=len(bomb) - 1)
    assert error.code == "too_large"
    assert check(b"hello", max_bytes=5).data == b"hello"


@pytest.mark.parametrize(
    "bomb",
    [
        png_claiming(100_000, 100_000),  # above Pillow's hard limit: an error
        png_claiming(10_000, 9_000),  # above Pillow's warning limit only
        gif_claiming(65535, 65535),
    ],
)
def test_decompression_bomb_is_refused_fast(bomb: bytes) -> None:
    assert len(bomb) < 100
    started = time.perf_counter()
    error = refused(bomb)
    assert error.code == "too_many_pixels"
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(
    "bomb", [png_claiming(100_000, 100_000), gif_claiming(65535, 65535)]
)
def test_decompression_bomb_is_refused_with_pillows_own_limit_off(
    bomb: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    started = time.perf_counter()
    assert refused(bomb).code == "too_many_pixels"
    assert time.perf_counter() - started < 1


def test_image_with_more_pixels_than_allowed_is_refused() -> None:
    source = image_bytes(picture((100, 100)), "PNG")
    error = refused(source, max_pixels=9_999)
    assert error.code == "too_many_pixels" and "100 x 100" in error.message
    assert check(source, max_pixels=10_000).width == 100


@pytest.mark.parametrize("format", ["GIF", "WEBP", "PNG"])
def test_animation_with_too_many_pixels_over_its_frames_is_refused(
    format: str,
) -> None:
    """Six frames of 100 x 100: each within 15,000 pixels, not all of them;
    within 60,000 all are."""
    moving = animation(format, 6, (100, 100))
    error = refused(moving, max_pixels=59_999)
    assert error.code == "too_many_pixels" and "6 frames" in error.message
    assert frame_count(check(moving, max_pixels=60_000).data) == 6


def test_animation_with_more_than_500_frames_is_refused() -> None:
    frames = [Image.new("L", (2, 2), i % 256) for i in range(501)]
    gif = image_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert frame_count(gif) == 501
    error = refused(gif)
    assert error.code == "too_many_pixels" and "500 frames" in error.message


@pytest.mark.parametrize("format", ["PNG", "JPEG", "GIF", "WEBP"])
def test_truncated_image_is_unreadable(format: str) -> None:
    whole = image_bytes(picture((200, 200)), format)
    error = refused(whole[: len(whole) // 2])
    assert error.code == "unreadable"


def test_type_not_in_the_allowed_list_is_refused() -> None:
    error = refused(image_bytes(picture(), "PNG"), "a.png", allowed=("text/plain",))
    assert error.code == "type_not_allowed"
    assert error.message == (
        "Plain text files are allowed; this file is a PNG image (image/png)."
    )


def test_empty_file_is_refused() -> None:
    error = refused(b"")
    assert error.code == "type_not_allowed" and "empty" in error.message


def test_without_libmagic_sniff_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "magic", None)  # import magic now fails
    with pytest.raises(RuntimeError, match="libmagic1"):
        sniff(b"hello")


def test_refusal_carries_its_code_and_message() -> None:
    error = UploadRefused("too_large", "Files may be at most 1 MB.")
    assert (error.code, error.message, str(error)) == (
        "too_large",
        "Files may be at most 1 MB.",
        "Files may be at most 1 MB.",
    )


# -- thumbnails ---------------------------------------------------------------------


def test_large_image_gets_a_webp_thumbnail() -> None:
    checked = check(image_bytes(picture((1000, 500), "RGBA"), "PNG"))
    assert checked.thumbnail is not None and checked.thumbnail_type == "image/webp"
    thumbnail = opened(checked.thumbnail)
    assert thumbnail.format == "WEBP" and thumbnail.size == (320, 160)
    assert thumbnail.mode == "RGBA"
    assert max(thumbnail.size) == THUMBNAIL_SIZE


def test_small_image_gets_no_thumbnail() -> None:
    checked = check(image_bytes(picture((100, 100)), "JPEG"))
    assert checked.thumbnail is None and checked.thumbnail_type is None


# -- names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "type", "cleaned"),
    [
        ("../../etc/passwd", None, "passwd"),
        ("C:\\x\\evil.exe", None, "evil.exe"),
        ("photo\u202egpj.exe", "image/jpeg", "photogpj.exe.jpg"),
        ("zero\u200bwidth\u200d.txt", "text/plain", "zerowidth.txt"),
        ("line\nbreak\t and   spaces.txt", None, "line break and spaces.txt"),
        ("", None, "file"),
        ("...", "application/pdf", "file.pdf"),
        ("../", None, "file"),
        ("..hidden", None, "hidden"),
        ('say "hi" <now>?.txt', None, "say _hi_ _now__.txt"),
        ("invoice.pdf.exe", "application/pdf", "invoice.pdf.exe.pdf"),
        ("photo.png", "image/jpeg", "photo.png.jpg"),
        ("photo.JPEG", "image/jpeg", "photo.JPEG"),
        ("run.bat", "text/plain", "run.bat.txt"),
        ("README", "text/plain", "README.txt"),
        ("Zoë's résumé 日本.pdf", "application/pdf", "Zoë's résumé 日本.pdf"),
    ],
)
def test_clean_name(name: str, type: str | None, cleaned: str) -> None:
    assert clean_name(name, type) == cleaned


def test_long_name_is_cut_to_120_characters_keeping_its_extension() -> None:
    cleaned = clean_name("x" * 500 + ".pdf", "application/pdf")
    assert cleaned == "x" * 116 + ".pdf"
    appended = clean_name("y" * 500, "image/png")
    assert appended == "y" * 116 + ".png"


def test_checked_name_fits_the_type() -> None:
    assert check(image_bytes(picture(), "JPEG"), "../../photo.png").name == (
        "photo.png.jpg"
    )


# -- any bytes: a CheckedFile or an UploadRefused, nothing else -------------------


def valid_images() -> list[bytes]:
    return [
        image_bytes(picture((24, 16), "RGBA"), "PNG"),
        image_bytes(picture((24, 16)), "JPEG"),
        animation("GIF", 3, (24, 16)),
        image_bytes(picture((24, 16)), "WEBP"),
        animation("WEBP", 2, (24, 16)),
    ]


HEADERS = [
    b"\x89PNG\r\n\x1a\n",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    b"\xff\xd8\xff\xe0",
    b"GIF89a",
    b"GIF87a",
    b"RIFF\x00\x10\x00\x00WEBPVP8 ",
    b"%PDF-1.4\n",
    b"PK\x03\x04",
    b"<svg ",
]


def damaged(data: bytes, start: int, length: int, filler: bytes) -> bytes:
    start %= len(data)
    return data[:start] + filler + data[start + length :]


def outcome(data: bytes, **kwargs: Any) -> CheckedFile | UploadRefused:
    try:
        return check(data, **kwargs)
    except UploadRefused as error:
        return error


@pytest.mark.parametrize(
    "whole", valid_images(), ids=["png", "jpeg", "gif", "webp", "animated-webp"]
)
def test_image_cut_anywhere_is_taken_or_refused(whole: bytes) -> None:
    for cut in range(len(whole)):
        result = outcome(whole[:cut])
        if isinstance(result, UploadRefused):
            assert result.code in {"type_not_allowed", "unreadable"}, cut


fuzz_inputs = st.one_of(
    st.binary(max_size=2048),
    st.builds(lambda head, tail: head + tail, st.sampled_from(HEADERS), st.binary()),
    st.builds(
        damaged,
        st.sampled_from(valid_images()),
        st.integers(0, 10_000),
        st.integers(0, 64),
        st.binary(max_size=64),
    ),
    st.builds(
        lambda data, cut: data[:cut], st.sampled_from(valid_images()), st.integers(0)
    ),
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=fuzz_inputs)
def test_any_bytes_are_taken_or_refused(data: bytes) -> None:
    result = outcome(data, max_pixels=1_000_000)
    if isinstance(result, UploadRefused):
        assert result.code in {
            "type_not_allowed",
            "content_mismatch",
            "too_large",
            "too_many_pixels",
            "unreadable",
        }
        assert result.message
    else:
        assert result.type in DEFAULT_ATTACHMENT_TYPES
        assert result.inline == (result.type in IMAGE_TYPES)
        if result.inline:
            assert opened(result.data).format
