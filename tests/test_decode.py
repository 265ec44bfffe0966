"""Strict decoding of release files."""

from __future__ import annotations

import codecs

import pytest

from codecatalog.errors import DecodeError
from codecatalog.read.decode import decode_text, split_lines


@pytest.mark.parametrize(
    ("data", "text", "encoding"),
    [
        (b"12345\tCaf\xc3\xa9\r\n", "12345\tCafé\r\n", "utf-8"),
        (codecs.BOM_UTF8 + b"Concept Id\r\n", "Concept Id\r\n", "utf-8-sig"),
        (b"CPT\xae 2026\r\n\x93quoted\x94", "CPT® 2026\r\n“quoted”", "cp1252"),
        (b"", "", "utf-8"),
    ],
)
def test_accepted_encodings(data: bytes, text: str, encoding: str) -> None:
    decoded = decode_text(data, "f.txt")
    assert (decoded.text, decoded.encoding) == (text, encoding)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("x".encode("utf-16"), "f.txt: line 1, byte offset 0: UTF-16LE byte-order mark"),
        (
            codecs.BOM_UTF32_LE + b"x\0\0\0",
            "f.txt: line 1, byte offset 0: UTF-32LE byte-order mark",
        ),
        (b"ab\r\ncd\x81e", "f.txt: line 2, byte offset 6: byte 0x81 is neither valid UTF-8 nor"),
        (b"ab\r\nc\x00d", "f.txt: line 2, byte offset 5: control character U+0000"),
        (b"\xae\r\n\r\nx\x1by", "f.txt: line 3, byte offset 6: control character U+001B"),
        (
            codecs.BOM_UTF8 + b"\xc3\xa9\x07",
            "f.txt: line 1, byte offset 5: control character U+0007",
        ),
    ],
)
def test_refused_bytes_name_file_line_and_offset(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError) as err:
        decode_text(data, "f.txt")
    assert str(err.value).startswith(message)


def test_split_lines_only_on_line_ends() -> None:
    assert split_lines("a\r\nb\u2028c\x85d\ne\rf\r\n") == ["a", "b\u2028c\x85d", "e", "f"]
    assert split_lines("a\r\n\r\n") == ["a", ""]
