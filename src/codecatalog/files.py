"""Two file operations several modules need: a file's sha256, and text written whole or not at
all (pointers, state files, caches)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def replace_text(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically: into a temporary file beside it, synced, then
    renamed over it, so a reader sees the old file or the new one, never part of one. Raises
    OSError, leaving no temporary file behind."""
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
