"""One streaming pass over a release member's bytes, and the copies some files need.

`scan_member` hashes a member, tells workbook from text from binary, checks text is UTF-8 or
cp1252 without control characters and counts its lines, copying a zip member to disk on the way;
the rest prepare a scanned text file for DuckDB: the DOS end-of-file line cut off, cp1252
re-encoded as UTF-8, CRLF record ends made LF when the first line break is a quoted LF.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import tempfile
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from codecatalog.errors import DecodeError, Failure
from codecatalog.read.archive import ReleaseArchive
from codecatalog.sources import SourceConfig

SNIFF = 64 * 1024
CHUNK = 4 * 1024 * 1024
WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32LE"),
    (codecs.BOM_UTF32_BE, "UTF-32BE"),
    (codecs.BOM_UTF16_LE, "UTF-16LE"),
    (codecs.BOM_UTF16_BE, "UTF-16BE"),
)
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_CONTROL = re.compile(b"[" + re.escape(_CONTROL_BYTES) + b"]")
_BINARY_MAGIC = (b"%PDF", b"\xd0\xcf\x11\xe0")  # PDF, OLE2 (xls, doc)
_ZIP_MAGIC = b"PK\x03\x04"


def count_breaks(data: bytes, after_cr: bool = False, lf: int | None = None) -> int:
    """Line breaks in `data` (CRLF, LF or CR); `after_cr`: the byte before it was a CR; `lf`:
    its LF count when known."""
    n = data.count(b"\n") if lf is None else lf
    cr = data.count(b"\r")
    if cr:
        n += cr - data.count(b"\r\n")
    if after_cr and data[:1] == b"\n":
        n -= 1  # the LF of a CRLF split across chunks
    return n


@dataclass
class Scan:
    """What one streaming pass over a member's bytes found."""

    sha256: str
    size: int
    kind: str  # "text", "xlsx" or "skip"
    path: Path  # the bytes on disk (the member itself, or a temp copy)
    encoding: str = "utf-8"
    lines: int = 0  # physical lines, empty trailing lines excluded
    lines_all: int = 0  # physical lines, empty trailing lines included
    plain: bool = False  # ASCII without a quote character
    decode_error: DecodeError | None = None
    utf8_error: tuple[int, int] | None = None  # first invalid UTF-8 byte: offset, line
    eof_offset: int | None = None  # where a trailing DOS end-of-file line (0x1A) starts
    open_end: bool = False  # the last line has no line end
    mixed_ends: bool = False  # the first line break a bare LF, CRs later (see `crlf_to_lf`)


@dataclass
class _Counter:
    """Streaming line-break and LF counts with the state carried across chunks."""

    breaks: int = 0
    lf: int = 0
    has_cr: bool = False
    first_lf: bool | None = None  # whether the first line break is a bare LF (None: none yet)
    after_cr: bool = False
    tail: bytearray = field(default_factory=bytearray)  # the trailing run of CR/LF bytes

    def add(self, chunk: bytes) -> None:
        lf = chunk.count(b"\n")
        self.breaks += count_breaks(chunk, self.after_cr, lf)
        self.lf += lf
        self.has_cr = self.has_cr or b"\r" in chunk
        if self.first_lf is None:
            at = [i for i in (chunk.find(b"\r"), chunk.find(b"\n")) if i >= 0]
            if at:
                self.first_lf = chunk[min(at)] == ord("\n")
        self.after_cr = chunk.endswith(b"\r")
        body = chunk.rstrip(b"\r\n")
        if body:
            self.tail = bytearray(chunk[len(body) :])
        else:
            self.tail += chunk

    def lines(self, size: int) -> tuple[int, int]:
        """(lines without empty trailing ones, all lines)."""
        if size == 0:
            return 0, 0
        trailing = count_breaks(bytes(self.tail))
        every = self.breaks + (0 if trailing else 1)
        return every - max(trailing - 1, 0), every


def kind_of(head: bytes) -> str:
    """`zip`, `text` or `skip` (binary) from a file's first bytes."""
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if any(head.startswith(bom) for bom, _ in WIDE_BOMS):
        return "text"  # refused by the decoding rules, not skipped
    if head.startswith(_BINARY_MAGIC) or b"\x00" in head:
        return "skip"
    return "text"


def is_xlsx(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            if "[Content_Types].xml" not in zf.namelist():
                return False
            types = zf.read("[Content_Types].xml")
    except (zipfile.BadZipFile, OSError, KeyError):
        return False
    return b"spreadsheetml" in types or b"ms-excel" in types


def scan_member(archive: ReleaseArchive, member: str, file: str, tmp: Path) -> Scan:
    """Hash, size and (for text) encoding and line counts of one member in one streaming pass;
    a zip member is copied to a temp file on the way (DuckDB and openpyxl read paths)."""
    sha = hashlib.sha256()
    size = 0
    counter = _Counter()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8_error: tuple[int, int] | None = None
    control: tuple[int, int, int] | None = None  # offset, line, byte
    kind = ""
    plain = True
    with ExitStack() as stack:
        chunks, path = stack.enter_context(archive.open_member(member))
        copy: IO[bytes] | None = None
        if path is None:
            handle, name = tempfile.mkstemp(suffix=".member", dir=tmp)
            path = Path(name)
            copy = stack.enter_context(os.fdopen(handle, "wb"))
        for chunk in chunks:
            if not kind:
                kind = kind_of(chunk[:SNIFF])
                if kind == "skip":
                    break
                wide = [label for bom, label in WIDE_BOMS if chunk.startswith(bom)]
                if kind == "text" and wide:
                    problem = f"{wide[0]} byte-order mark: expected UTF-8 or cp1252 text"
                    raise DecodeError(file, 0, 1, problem)
            sha.update(chunk)
            if copy is not None:
                copy.write(chunk)
            if kind == "text":
                ascii_only = chunk.isascii()
                plain = plain and ascii_only and b'"' not in chunk
                if utf8_error is None and (not ascii_only or decoder.getstate()[0]):
                    pending = len(decoder.getstate()[0])
                    try:
                        decoder.decode(chunk)
                    except UnicodeDecodeError as e:
                        at = size - pending + e.start
                        utf8_error = (at, counter.lf + _lf_before(chunk, at - size) + 1)
                if control is None and len(chunk.translate(None, _CONTROL_BYTES)) < len(chunk):
                    hit = _CONTROL.search(chunk)
                    assert hit is not None
                    control = (
                        size + hit.start(),
                        counter.lf + chunk.count(b"\n", 0, hit.start()) + 1,
                        chunk[hit.start()],
                    )
                counter.add(chunk)
            size += len(chunk)
    if kind == "skip":
        return Scan("", 0, "skip", path)
    if kind == "zip":
        return Scan(sha.hexdigest(), size, "xlsx" if is_xlsx(path) else "skip", path)
    if utf8_error is None:
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as e:
            utf8_error = (size - pending + e.start, counter.lf + 1)
    lines, lines_all = counter.lines(size)
    scan = Scan(sha.hexdigest(), size, "text", path, lines=lines, lines_all=lines_all)
    scan.utf8_error = utf8_error
    scan.plain = plain
    with path.open("rb") as f:
        has_bom = f.read(3) == codecs.BOM_UTF8
    scan.encoding = "cp1252" if utf8_error else ("utf-8-sig" if has_bom else "utf-8")
    scan.open_end = size > 0 and not counter.tail
    scan.mixed_ends = bool(counter.first_lf) and counter.has_cr
    if control is not None:
        offset, line, byte = control
        if byte == 0x1A and _is_eof_line(path, offset, size):
            scan.eof_offset = offset
            scan.lines = scan.lines_all = line - 1
            scan.open_end = False
        else:
            scan.decode_error = DecodeError(file, offset, line, f"control character U+{byte:04X}")
    return scan


_EOF_LINE = re.compile(rb"\x1a[,\t]*")


def _is_eof_line(path: Path, offset: int, size: int) -> bool:
    """Whether the file's last line starts at `offset` and is a DOS end-of-file mark: 0x1A,
    then delimiters only (PPRRVU CSV: 0x1A and 30 commas), then at most line ends."""
    if size - offset > SNIFF:
        return False
    with path.open("rb") as f:
        f.seek(max(offset - 1, 0))
        before = f.read(1) if offset else b"\n"
        tail = f.read() if offset else before + f.read()
    if offset == 0:
        tail = tail[1:]
    return before in (b"\n", b"\r") and _EOF_LINE.fullmatch(tail.rstrip(b"\r\n")) is not None


def drop_eof_line(scan: Scan, tmp: Path) -> None:
    """Cut the end-of-file line off the bytes read (a temp copy is cut in place; a file of the
    release is copied up to it)."""
    assert scan.eof_offset is not None
    if scan.path.parent == tmp:
        os.truncate(scan.path, scan.eof_offset)
        return
    handle, name = tempfile.mkstemp(suffix=".noeof", dir=tmp)
    left = scan.eof_offset
    with scan.path.open("rb") as src, os.fdopen(handle, "wb") as dst:
        while left and (chunk := src.read(min(CHUNK, left))):
            dst.write(chunk)
            left -= len(chunk)
    scan.path = Path(name)


def truncated_failures(scan: Scan, file: str, cfg: SourceConfig) -> list[Failure]:
    """`complete_lines`: a text file whose last line has no line end is refused, with the
    line's number and text."""
    if not cfg.read.complete_lines or not scan.open_end:
        return []
    with scan.path.open("rb") as f:
        f.seek(max(scan.size - SNIFF, 0))
        tail = f.read()
    last = re.split(rb"\r\n|\r|\n", tail)[-1]
    text = last.decode("cp1252" if scan.encoding == "cp1252" else "utf-8", errors="replace")
    return [Failure(file, scan.lines, "", "truncated", text.lstrip("\ufeff"))]


def crlf_to_lf(path: Path, tmp: Path) -> Path:
    """A copy of a text file whose records end in CRLF while quoted values break lines with a
    bare LF, the first line break being one of those (a spreadsheet's CSV export with a notice
    in its first cell, as the MUE tables come), with the CRLF line ends outside quoted values as
    LF: DuckDB takes the file's first line break for the line end. Quoted values keep their
    bytes; line numbers do not move."""
    handle, name = tempfile.mkstemp(suffix=".lf", dir=tmp)
    quoted = False  # inside a quoted value at the start of the next piece
    held = b""
    with path.open("rb") as src, os.fdopen(handle, "wb") as dst:
        while chunk := src.read(CHUNK):
            chunk = held + chunk
            held = b"\r" if chunk.endswith(b"\r") else b""
            pieces = chunk[: len(chunk) - len(held)].split(b'"')
            for i, piece in enumerate(pieces):
                if i:
                    dst.write(b'"')
                    quoted = not quoted
                dst.write(piece if quoted else piece.replace(b"\r\n", b"\n"))
        dst.write(held)
    return Path(name)


def _lf_before(chunk: bytes, end: int) -> int:
    return chunk.count(b"\n", 0, max(end, 0))


def to_utf8(scan: Scan, file: str, tmp: Path) -> Path:
    """Re-encode a cp1252 file as UTF-8 (streaming); DecodeError for an undefined byte, placed
    as decode_text places it (the later of the UTF-8 and cp1252 failures)."""
    assert scan.utf8_error is not None
    handle, name = tempfile.mkstemp(suffix=".utf8", dir=tmp)
    out = Path(name)
    offset = 0
    lf = 0
    with scan.path.open("rb") as src, os.fdopen(handle, "wb") as dst:
        while chunk := src.read(CHUNK):
            try:
                text = chunk.decode("cp1252")
            except UnicodeDecodeError as e:
                at = offset + e.start
                line = lf + chunk.count(b"\n", 0, e.start) + 1
                if scan.utf8_error[0] > at:
                    at, line = scan.utf8_error
                with scan.path.open("rb") as again:
                    again.seek(at)
                    byte = again.read(1)[0]
                raise DecodeError(
                    file,
                    at,
                    line,
                    f"byte 0x{byte:02X} is neither valid UTF-8 nor defined in cp1252",
                ) from None
            dst.write(text.encode("utf-8"))
            offset += len(chunk)
            lf += chunk.count(b"\n")
    return out
