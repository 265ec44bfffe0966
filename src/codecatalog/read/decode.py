"""Strict text decoding: UTF-8 (BOM optional), else cp1252; anything doubtful is an error."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from codecatalog.errors import DecodeError

_WIDE_BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32LE",
    codecs.BOM_UTF32_BE: "UTF-32BE",
    codecs.BOM_UTF16_LE: "UTF-16LE",
    codecs.BOM_UTF16_BE: "UTF-16BE",
}
# C0 controls other than TAB, LF, CR, and DEL; cp1252 maps 0x80-0x9F to printable signs.
_LINE_END = re.compile(r"\r\n|\r|\n")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class DecodedText:
    """Text of one file and the encoding it was read with (`utf-8`, `utf-8-sig` or `cp1252`)."""

    text: str
    encoding: str


def decode_text(data: bytes, file: str) -> DecodedText:
    """Decode a release file strictly.

    UTF-8 with or without BOM is tried first, then cp1252. UTF-16/32 byte-order marks, bytes that
    cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) and NUL/control characters are errors.

    >>> decode_text("Caf\\u00e9".encode("cp1252"), "x.txt").encoding
    'cp1252'
    """
    for bom, name in _WIDE_BOMS.items():
        if data.startswith(bom):
            raise DecodeError(file, 0, 1, f"{name} byte-order mark: expected UTF-8 or cp1252 text")
    encoding = "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as utf8_error:
        encoding = "cp1252"
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as cp1252_error:
            # The later failure is the real one: the earlier is a byte the other encoding accepts
            # (é in a cp1252 file is invalid UTF-8; the 0x81 of UTF-8 "Á" is undefined in cp1252).
            offset = max(utf8_error.start, cp1252_error.start)
            raise DecodeError(
                file,
                offset,
                data.count(b"\n", 0, offset) + 1,
                f"byte 0x{data[offset]:02X} is neither valid UTF-8 nor defined in cp1252",
            ) from None
    bad = _CONTROL.search(text)
    if bad:
        prefix = text[: bad.start()]
        offset = len(prefix.encode("utf-8" if encoding == "utf-8-sig" else encoding)) + (
            3 if encoding == "utf-8-sig" else 0
        )
        raise DecodeError(
            file, offset, prefix.count("\n") + 1, f"control character U+{ord(bad.group()):04X}"
        )
    return DecodedText(text, encoding)


def split_lines(text: str) -> list[str]:
    """Split on CRLF, LF or CR only (unlike str.splitlines: never on NEL or U+2028).

    A final line end does not make an empty last line.
    """
    lines = _LINE_END.split(text)
    return lines[:-1] if lines and lines[-1] == "" else lines
