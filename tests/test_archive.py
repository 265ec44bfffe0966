"""ReleaseArchive refuses hostile or broken deliveries: zip slip, oversized members, zip bombs."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from codecatalog.errors import SourceLayoutError, UsageError
from codecatalog.read.archive import ReleaseArchive

ENV = "CODECATALOG_MAX_MEMBER_BYTES"


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    """A deflated zip holding `members` under exactly the given names (no sanitising)."""
    path.write_bytes(zip_bytes(members))
    return path


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def release_text(lines: int) -> bytes:
    """Fixed-width text shaped like a release file (varied codes and descriptors)."""
    words = ["Office", "visit", "established", "patient", "minutes", "injection", "ambulance"]
    rows = []
    for i in range(lines):
        desc = " ".join(words[(i * k) % len(words)] for k in range(1, 6))
        rows.append(f"{i:05d}{i * 7919 % 100000:05d} {desc:<60}{i % 97:>4}\r\n")
    return "".join(rows).encode("ascii")


# ------------------------------------------------------------------------------------ zip slip
@pytest.mark.parametrize(
    "name",
    ["../x.txt", "top/../../x.txt", "/etc/x.txt", "\\x.txt", "C:\\x.txt", "c:x.txt", "..\\x.txt"],
)
def test_member_climbing_out_is_refused_on_open(tmp_path: Path, name: str) -> None:
    path = write_zip(tmp_path / "release.zip", {"ok/LONGULT.txt": b"data", name: b"evil"})

    with pytest.raises(SourceLayoutError) as exc:
        ReleaseArchive.open(path)

    assert str(exc.value) == (
        f"{path}: member {name!r} climbs out of the archive (absolute path or '..')"
    )


def test_names_that_only_look_like_climbing_are_kept(tmp_path: Path) -> None:
    members = {"top/": b"", "top/..LONGULT.txt": b"a", "top/v1..2/x.txt": b"b", "...txt": b"c"}
    path = write_zip(tmp_path / "release.zip", members)

    archive = ReleaseArchive.open(path)

    assert archive.members() == ["...txt", "top/..LONGULT.txt", "top/v1..2/x.txt"]
    assert [archive.read_bytes(m) for m in archive.members()] == [b"c", b"a", b"b"]


# --------------------------------------------------------------------------------- size cap
def test_default_cap_is_one_gib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert ReleaseArchive.open(tmp_path).max_member_bytes == 1024**3


def test_declared_size_over_cap_is_refused(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "release.zip", {"codes.txt": b"x" * 1001, "small.txt": b"y" * 1000})
    archive = ReleaseArchive.open(path, max_member_bytes=1000)

    assert archive.read_bytes("small.txt") == b"y" * 1000  # exactly at the cap is fine
    with pytest.raises(SourceLayoutError) as exc:
        archive.read_bytes("codes.txt")

    assert str(exc.value) == (
        f"{path}: member 'codes.txt' declares 1001 bytes uncompressed, over the limit of "
        "1000 bytes (CODECATALOG_MAX_MEMBER_BYTES)"
    )


def test_cap_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_zip(tmp_path / "release.zip", {"codes.txt": b"x" * 600})
    monkeypatch.setenv(ENV, "500")

    with pytest.raises(SourceLayoutError) as exc:
        ReleaseArchive.open(path).read_bytes("codes.txt")

    assert str(exc.value) == (
        f"{path}: member 'codes.txt' declares 600 bytes uncompressed, over the limit of "
        "500 bytes (CODECATALOG_MAX_MEMBER_BYTES)"
    )
    # The constructor parameter wins over the environment.
    assert ReleaseArchive.open(path, max_member_bytes=600).read_bytes("codes.txt") == b"x" * 600


@pytest.mark.parametrize("value", ["lots", "0", "-5", "1.5"])
def test_bad_cap_in_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(ENV, value)

    with pytest.raises(UsageError) as exc:
        ReleaseArchive.open(tmp_path)

    assert (
        str(exc.value)
        == f"CODECATALOG_MAX_MEMBER_BYTES={value!r} is not a positive number of bytes"
    )


def _patch_declared_size(data: bytes, name: str, size: int) -> bytes:
    """Rewrite a member's uncompressed size in its local header and central directory entry."""
    out = bytearray(data)
    local = 0  # the zip's first (only) member
    central = out.index(b"PK\x01\x02")
    assert out[local : local + 4] == b"PK\x03\x04"
    assert out[local + 30 : local + 30 + len(name)] == name.encode()
    assert out[central + 46 : central + 46 + len(name)] == name.encode()
    out[local + 22 : local + 26] = size.to_bytes(4, "little")
    out[central + 24 : central + 28] = size.to_bytes(4, "little")
    return bytes(out)


def test_lying_declared_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "release.zip"
    data = zip_bytes({"codes.txt": b"A" * 200_000})
    path.write_bytes(_patch_declared_size(data, "codes.txt", 1000))
    archive = ReleaseArchive.open(path, max_member_bytes=100_000)
    assert archive._zip is not None
    assert archive._zip.getinfo("codes.txt").file_size == 1000  # the lie is what zipfile sees

    with pytest.raises(SourceLayoutError) as exc:
        archive.read_bytes("codes.txt")

    # Inflation stops at the declared size, and the CRC of what was read then fails.
    assert str(exc.value) == (
        f"{path}: member 'codes.txt' cannot be read: Bad CRC-32 for file 'codes.txt'"
    )


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
def test_file_larger_than_its_stat_size_stops_at_the_cap() -> None:
    # procfs reports size 0 for files that do hold bytes: the size on disk can lie, too.
    path = Path("/proc/self/status")
    assert path.stat().st_size == 0
    archive = ReleaseArchive.open(path, max_member_bytes=64)

    with pytest.raises(SourceLayoutError) as exc:
        archive.read_bytes("status")

    assert str(exc.value) == (
        "/proc/self/status: 'status' holds more than 64 bytes, the limit "
        "(CODECATALOG_MAX_MEMBER_BYTES), although its size on disk is 0 bytes"
    )


# ------------------------------------------------------------------------------------ zip bomb
def test_compression_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("zeros.txt", "w") as w:
        for _ in range(8):
            w.write(bytes(1024 * 1024))
    archive = ReleaseArchive.open(path)  # default limits
    assert archive._zip is not None
    packed = archive._zip.getinfo("zeros.txt").compress_size
    assert 4000 < packed < 80_000  # deflate packs zeros about 1000:1

    with pytest.raises(SourceLayoutError) as exc:
        archive.read_bytes("zeros.txt")

    assert str(exc.value) == (
        f"{path}: member 'zeros.txt' declares 8388608 bytes uncompressed from {packed} "
        f"compressed (ratio {8388608 / packed:.0f}:1, more than 200:1): refused as a zip bomb"
    )


def test_small_members_and_real_text_pass_the_ratio(tmp_path: Path) -> None:
    text = release_text(60_000)  # ≈ 5 MB, over the default 4 MiB floor
    zeros = bytes(1024 * 1024)  # absurd ratio, but under the floor
    path = write_zip(tmp_path / "release.zip", {"LONGULT.txt": text, "blank.txt": zeros})
    archive = ReleaseArchive.open(path)  # default limits
    assert archive._zip is not None
    info = archive._zip.getinfo("LONGULT.txt")
    assert info.file_size > 4 * 1024 * 1024
    assert info.file_size / info.compress_size < 100

    assert archive.read_bytes("LONGULT.txt") == text
    assert archive.read_bytes("blank.txt") == zeros
    assert archive.sha256("LONGULT.txt") == hashlib.sha256(text).hexdigest()


# --------------------------------------------------------------------------- release directories
def test_directory_file_over_cap_is_refused(tmp_path: Path) -> None:
    (tmp_path / "standard").mkdir()
    (tmp_path / "standard" / "LONGULT.txt").write_bytes(b"x" * 2000)
    (tmp_path / "MEDU.txt").write_bytes(b"y" * 1000)
    archive = ReleaseArchive.open(tmp_path, max_member_bytes=1000)

    assert archive.read_bytes("MEDU.txt") == b"y" * 1000
    with pytest.raises(SourceLayoutError) as exc:
        archive.read_bytes("standard/LONGULT.txt")

    assert str(exc.value) == (
        f"{tmp_path}: 'standard/LONGULT.txt' is 2000 bytes, over the limit of 1000 bytes "
        "(CODECATALOG_MAX_MEMBER_BYTES)"
    )


def test_single_file_over_cap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "HCPC2018_ANWEB.txt"
    path.write_bytes(b"x" * 2000)

    with pytest.raises(SourceLayoutError) as exc:
        ReleaseArchive.open(path, max_member_bytes=1999).read_bytes("HCPC2018_ANWEB.txt")

    assert str(exc.value) == (
        f"{path}: 'HCPC2018_ANWEB.txt' is 2000 bytes, over the limit of 1999 bytes "
        "(CODECATALOG_MAX_MEMBER_BYTES)"
    )


def test_symlink_out_of_release_directory_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not part of the release")
    release = tmp_path / "cpt-2026"
    (release / "standard").mkdir(parents=True)
    (release / "standard" / "MEDU.txt").write_bytes(b"medu")
    (release / "standard" / "LONGULT.txt").symlink_to(secret)
    (release / "SHORTU.txt").symlink_to(release / "standard" / "MEDU.txt")  # inside: fine
    archive = ReleaseArchive.open(release)

    assert archive.read_bytes("SHORTU.txt") == b"medu"
    for member in ("standard/LONGULT.txt", "../secret.txt"):
        with pytest.raises(SourceLayoutError) as exc:
            archive.read_bytes(member)
        assert str(exc.value) == (
            f"{release}: {member!r} leads outside the release directory (to {secret.resolve()})"
        )
