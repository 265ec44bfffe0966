"""A table source's pandera schema as SQL checks, translated once and cached as JSON.

Translating imports pandera and pandas (about 0.6 s of every command); a refresh of a table
source whose schema has not changed reads the translation from `$CODECATALOG_CACHE` (default
`~/.cache/codecatalog`) instead. The cache key covers the schema file (path and bytes), the
declared columns, DuckDB's version and the code that translates, so an entry is never stale.
Only translations that succeeded are cached: a bad schema is refused every time.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib.util import find_spec
from pathlib import Path

import duckdb

from codecatalog.errors import DeclarationError
from codecatalog.files import replace_text
from codecatalog.sources import SourceConfig
from codecatalog.sql_checks import Translation

CACHE_ENV = "CODECATALOG_CACHE"
_TRANSLATING = (
    "codecatalog.validate_sql", "codecatalog.sql_checks", "codecatalog.checks",
    "codecatalog.validate", "codecatalog.translations",
)  # fmt: skip


def cache_dir() -> Path:
    """Where translations are cached."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "codecatalog")


def translation_for(cfg: SourceConfig) -> Translation:
    """The SQL checks of `cfg`'s schema. DeclarationError when the schema cannot be used: it
    does not parse, names a column not in `columns`, or has a check DuckDB cannot run."""
    path = cache_dir() / "translations" / f"{_key(cfg)}.json"
    try:
        return Translation.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    translation = _translate(cfg)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_text(path, translation.to_json())
    except OSError:
        pass  # no cache: the next command translates again
    return translation


def _translate(cfg: SourceConfig) -> Translation:
    from codecatalog.validate import load_schema
    from codecatalog.validate_sql import translate

    label = f"schema {cfg.schema}"
    try:
        schema = load_schema(cfg.schema)
    except DeclarationError as err:
        raise DeclarationError(f"schema {err}") from None
    translation = translate(schema, where=label, columns=[c.name for c in cfg.columns])
    declared = {c.name for c in cfg.columns}
    unique = schema.unique or []
    for name in [*schema.columns, *([unique] if isinstance(unique, str) else unique)]:
        if name not in declared:
            raise DeclarationError(
                f"{label} names column {name!r}, which is not in [{cfg.name}.columns]"
            )
    return translation


def _key(cfg: SourceConfig) -> str:
    digest = hashlib.sha256()
    try:
        digest.update(cfg.schema.read_bytes())
    except OSError:
        digest.update(b"unreadable")  # translating says why
    parts = [str(cfg.schema), [c.name for c in cfg.columns], duckdb.__version__]
    digest.update(json.dumps(parts).encode())
    for module in _TRANSLATING:
        spec = find_spec(module)
        if spec is not None and spec.origin:
            digest.update(Path(spec.origin).read_bytes())
    return digest.hexdigest()
