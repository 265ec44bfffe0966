"""One log record per refresh step: what it did, to which release, how long it took.

`step(name, source, version)` times a block and logs one record to the logger `codecatalog.steps`
when it ends: INFO with the step's counts, or WARNING with `outcome="failed"` and the error's first
line (then the error goes on). The message is for people (`cpt 2026 load: loaded; 11,038 rows in
1.23 s`); the same facts are attributes of the record (`step`, `source`, `version`, `outcome`,
`seconds` and the counts), for a JSON handler or Prefect.

Where the records go:
- a Prefect flow or task run: its logs (through Prefect's API handler, as
  `PREFECT_LOGGING_EXTRA_LOGGERS` would send them);
- `configure()` (the CLI calls it): stderr, when `$CODECATALOG_LOG_FORMAT` is `json` (one object per
  line) or `text`;
- nowhere else unless the application adds a handler (the logger's level is INFO; set it to
  WARNING to keep only failures).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from codecatalog.errors import UsageError, ValidationFailed, first_line

LOGGER = logging.getLogger("codecatalog.steps")
FORMAT_ENV = "CODECATALOG_LOG_FORMAT"
FORMATS = ("json", "text")


@dataclass
class Step:
    """The step being logged: its record's fields (`outcome` is `ok` unless a count sets it)."""

    name: str
    source: str
    version: str
    fields: dict[str, Any] = field(default_factory=dict)
    quiet: bool = False

    def done(self, counts: Mapping[str, Any] | None) -> None:
        """Add the counts known at the step's end; None: it had nothing to do, so it logs no
        record (unless it fails after all)."""
        if counts is None:
            self.quiet = True
        else:
            self.fields.update(counts)


@contextmanager
def step(name: str, source: str, version: str, **fields: Any) -> Iterator[Step]:
    """Time the block and log its one record when it ends (see the module docstring):
    `with step("load", "cpt", "2026") as logged: …; logged.done({"outcome": "loaded", "rows": 9})`.
    """
    logged = Step(name, source, version, {"outcome": "ok", **fields})
    start = time.perf_counter()
    try:
        yield logged
    except BaseException as err:
        logged.fields.update(outcome="failed", error=first_line(err))
        if isinstance(err, ValidationFailed):
            logged.fields["failures"] = len(err.failures)
        _emit(logging.WARNING, logged, time.perf_counter() - start)
        raise
    if not logged.quiet:
        _emit(logging.INFO, logged, time.perf_counter() - start)


def _emit(level: int, logged: Step, elapsed: float) -> None:
    seconds = round(elapsed, 3)
    record = {
        "step": logged.name,
        "source": logged.source,
        "version": logged.version,
        "seconds": seconds,
        **logged.fields,
    }
    LOGGER.log(level, message(logged, seconds), extra=record)


def message(logged: Step, seconds: float) -> str:
    """`cpt 2026 load: loaded; 11,038 rows in 1.23 s`: the outcome unless `ok`, the fields but
    empty ones, a failure's error last."""
    fields = dict(logged.fields)
    outcome, error = fields.pop("outcome"), fields.pop("error", None)
    shown = [outcome.replace("_", " ")] if outcome != "ok" else []
    shown += [_show(name, value) for name, value in fields.items() if value not in (None, [])]
    text = f"{logged.source} {logged.version} {logged.name}: {'; '.join(shown) or 'done'}"
    text += f" in {seconds:.2f} s"
    return f"{text}: {error}" if error else text


def _show(name: str, value: Any) -> str:
    label = name.replace("_", " ")
    if isinstance(value, bool) or not isinstance(value, int | dict | list):
        return f"{label} {value}"
    if isinstance(value, int):
        return f"{value:,} {label}"
    if isinstance(value, list):
        return f"{label} {', '.join(str(v) for v in value)}"
    return f"{label}: " + ", ".join(f"{k} {_number(v)}" for k, v in value.items())


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


# --- where the records go -------------------------------------------------------------------------

_STANDARD = {*logging.LogRecord("", 0, "", 0, "", None, None).__dict__, "message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC), level, logger, message, then the record's own
    fields (a step record's `step`, `source`, `version`, `outcome`, `seconds` and counts)."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update((k, v) for k, v in record.__dict__.items() if k not in _STANDARD)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def json_formatter() -> logging.Formatter:
    """The formatter `CODECATALOG_LOG_FORMAT=json` uses."""
    return JsonFormatter()


class _Configured(logging.StreamHandler[IO[str]]):
    """The handler `configure` installs (replaced by the next call)."""


def configure(stream: IO[str] | None = None, log_format: str | None = None) -> None:
    """Log codecatalog's records to `stream` (stderr) in `log_format` (default
    $CODECATALOG_LOG_FORMAT): `json` one object per line, `text` a timestamped message per line;
    unset or empty: nowhere (what an earlier call installed is removed).

    Raises UsageError for another format.
    """
    chosen = os.environ.get(FORMAT_ENV, "") if log_format is None else log_format
    if chosen and chosen not in FORMATS:
        raise UsageError(f"${FORMAT_ENV}={chosen!r}: use one of {', '.join(FORMATS)}")
    logger = logging.getLogger("codecatalog")
    for old in [h for h in logger.handlers if isinstance(h, _Configured)]:
        logger.removeHandler(old)
    if not chosen:
        return
    handler = _Configured(stream or sys.stderr)
    text = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    handler.setFormatter(json_formatter() if chosen == "json" else text)
    logger.addHandler(handler)


class _ToPrefect(logging.Handler):
    """Inside a Prefect flow or task run, hand records to Prefect's API handlers (those of
    `prefect.extra`, which `PREFECT_LOGGING_EXTRA_LOGGERS` copies); outside one, drop them (the
    API handler would warn) and, like a NullHandler, keep Python's last-resort stderr output
    off."""

    def emit(self, record: logging.LogRecord) -> None:
        if "prefect.context" not in sys.modules:
            return  # no Prefect run in this process
        from prefect.context import FlowRunContext, TaskRunContext

        if FlowRunContext.get() is None and TaskRunContext.get() is None:
            return
        extra = logging.getLogger("codecatalog").handlers  # PREFECT_LOGGING_EXTRA_LOGGERS's
        for handler in logging.getLogger("prefect.extra").handlers:
            if handler not in extra and record.levelno >= handler.level:
                handler.handle(record)


LOGGER.setLevel(logging.INFO)
LOGGER.addHandler(_ToPrefect())
