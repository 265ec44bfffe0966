"""The `codecatalog` command: refresh a release; read what is loaded (versions, a key's history,
the record in force on a date, any two versions' net change, read-only SQL); ask which policy rows
name retired codes; generate samples."""

from __future__ import annotations

import argparse
import csv
import io
import json
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codecatalog import sources, steplog
from codecatalog.errors import CodecatalogError, UsageError, ValidationFailed
from codecatalog.writer import warehouse_path

if TYPE_CHECKING:
    import duckdb

    from codecatalog.pipeline import RefreshResult

EXIT_REFUSED = 2


def cmd_refresh(args: argparse.Namespace) -> int:
    """Run the refresh for one release and print what was published.

    Through the Prefect flow when a Prefect API is configured (or with --prefect), otherwise the
    same steps in-process (--plain forces that).
    """
    from codecatalog import pipeline

    warehouse_dir = warehouse_path(args.warehouse)
    attempt = pipeline.Attempt(args.source, args.version, args.path)
    with pipeline.recorded_refusal(warehouse_dir, attempt):
        request = pipeline.Request.parse(
            args.source,
            args.path,
            args.version,
            args.effective,
            args.transactions,
            args.allow_shrink,
        )
        use_flow = not args.plain and _use_prefect(force=args.prefect)
    if use_flow:
        from codecatalog.flows.refresh import refresh_flow

        result = refresh_flow(
            request.codeset,
            request.source_uri,
            request.version.label,
            warehouse_dir,
            request.effective,
            request.transactions,
            args.wait,
            request.allow_shrink,
        )
    else:
        with _progress() as progress:
            result = pipeline.refresh(
                request.codeset,
                request.source_uri,
                request.version.label,
                warehouse_dir=warehouse_dir,
                effective=request.effective,
                transactions=request.transactions,
                wait=args.wait,
                allow_shrink=request.allow_shrink,
                progress=progress,
            )
    _print_result(result)
    return 0


@contextmanager
def _progress() -> Iterator[Callable[[str], None] | None]:
    """On a terminal, a spinner on stderr naming the refresh step under way (a 5M-row source
    takes tens of seconds); elsewhere nothing, so that logs and pipes stay clean."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console

    with Console(stderr=True).status("starting") as status:
        yield lambda step: status.update(f"{step} …")


def _use_prefect(*, force: bool) -> bool:
    """Whether to run the flow: a configured Prefect API that answers its health check, or
    `--prefect` (a temporary server); otherwise say in one line that the steps run in-process."""
    from codecatalog.prefect_api import allow_slow_temporary_server, check_api, configured_api_url

    allow_slow_temporary_server()  # before Prefect reads its settings (it reads them once)
    url = configured_api_url()
    if url is not None:
        check_api(url)
        return True
    if force:
        return True
    print(
        "no Prefect API configured: running the steps in-process (for run history, start "
        "`prefect server start` and set PREFECT_API_URL)",
        file=sys.stderr,
    )
    return False


def _print_result(result: RefreshResult) -> None:
    print(f"{result.codeset} {result.version}: {result.outcome}")
    print(f"  published: {result.published}")
    print(f"  report:    {result.published / 'report.md'}")
    print(f"  latest:    {result.latest}")
    if result.previous is None:
        print("  changes:   none (first loaded version)")
    else:
        summary = ", ".join(f"{kind} {n}" for kind, n in result.counts.items())
        print(f"  changes since {result.previous}: {summary}")
    if result.warnings:
        print(f"  warnings:  {len(result.warnings)} (listed in the report)")
    for skipped in (w for w in result.warnings if "cross-check skipped" in w.check):
        print(f"  skipped:   {skipped}")
    for note in result.notes:
        print(f"  note:      {note}")


def cmd_diff(args: argparse.Namespace) -> int:
    """Print the net change between any two loaded versions (FROM earlier than TO): a key absent
    from both does not appear, one revised twice shows FROM's value and TO's, a key absent in
    FROM and already terminated in TO is `added` and `retired`; `source_action` is TO's own
    action. The release's own actions cover one step, so when versions are loaded between FROM
    and TO a line on stderr says the reconciliation is omitted."""
    from codecatalog import queries
    from codecatalog.diff.changes import changes_between

    with _reader(args) as con:
        cfg = queries.declaration(con, args.source)
        changes = changes_between(con, cfg, args.from_version, args.to_version)
        between = queries.versions_between(con, cfg.name, args.from_version, args.to_version)
    if between:
        print(
            f"note: reconciliation omitted: {args.from_version} does not immediately precede "
            f"{args.to_version} ({', '.join(r.version for r in between)} loaded between them)",
            file=sys.stderr,
        )
    if args.format == "csv":
        changes.to_csv(sys.stdout, index=False, lineterminator="\n")
    elif args.format == "json":
        records = changes.astype(object).where(changes.notna(), None).to_dict("records")
        json.dump(records, sys.stdout, indent=2, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    elif len(changes):
        print(changes.fillna("").to_string(index=False, max_colwidth=50))
    else:
        print("no changes")
    return 0


@contextmanager
def _reader(args: argparse.Namespace) -> Iterator[duckdb.DuckDBPyConnection]:
    from codecatalog import warehouse

    con = warehouse.open_reader(warehouse_path(args.warehouse))
    try:
        yield con
    finally:
        con.close()


def cmd_versions(args: argparse.Namespace) -> int:
    """List the loaded versions of a source in effective-date order: effective date, correction
    number, when loaded, catalog rows, whether published, the change counts of its step (from
    its published changes, else recomputed; `since` names the version compared with), and which
    versions `latest.json` and `current.json` name."""
    from codecatalog import queries

    with _reader(args) as con:
        cfg = queries.declaration(con, args.source)
        found = queries.versions(con, warehouse_path(args.warehouse), cfg)
    _print_rows([v.row() for v in found], args.format)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """Print every change of one key across all loaded versions, oldest first: added, retired,
    reactivated, descriptor_revised, descriptor_editorial, attribute_changed with the field, old
    and new value, the effective date and the release's own action (HCPCS ACTION CD, CPT
    history). Each step is what `diff` gives for the two neighbouring versions. A composite key
    is given joined with `|`."""
    from codecatalog import queries, warehouse

    with _reader(args) as con:
        cfg = queries.declaration(con, args.source)
        events = queries.history(con, cfg, args.key)
        releases = warehouse.loaded_releases(con, cfg.name)
        first = queries.first_state(queries.key_rows(con, cfg, args.key), releases[0])
    if args.format != "table":
        _print_rows(events, args.format)
        return 0
    print(f"{cfg.name} {args.key}: {first} in {releases[0].version} (the first loaded version)")
    if not events:
        print(f"no changes since {releases[0].version}")
        return 0
    rows = [
        {
            "version": e["to_version"],
            "effective_date": e["effective_date"],
            "change_type": e["change_type"],
            "source_action": e["source_action"],
            "change": _describe_change(e),
        }
        for e in events
    ]
    _print_rows(rows, "table")
    return 0


def _describe_change(event: Mapping[str, Any]) -> str:
    """`field: old → new` for a field change; the successors of a retirement."""
    if event["field"] is None:
        return f"replaced by {event['new_value']}" if event["new_value"] else ""
    old, new = (_quoted(event[c]) for c in ("old_value", "new_value"))
    return f"{event['field']}: {old} → {new}"


def _quoted(value: object) -> str:
    return "(none)" if value is None else json.dumps(str(value), ensure_ascii=False)


def cmd_lookup(args: argparse.Namespace) -> int:
    """Print the record of one key in force on a date (default today): the version in force
    then and the key's row in it, or `KEY is not active on DATE (retired on …, replaced by …)`.
    A key that is in no loaded version, or only in later ones, exits 2."""
    from codecatalog import queries

    on = queries.parse_date(args.as_of, "--as-of") if args.as_of else date.today()
    with _reader(args) as con:
        cfg = queries.declaration(con, args.source)
        found = queries.lookup(con, cfg, args.key, on)
    head = {
        "codeset": found.codeset,
        "key": found.key,
        "as_of": found.as_of,
        "version": found.version,
        "version_effective_date": found.version_effective_date,
        "active": found.active,
        "retired_on": found.retired_on,
        "successors": found.successors,
        "note": found.note,
    }
    if args.format == "json":
        _write_json({**head, "record": found.record})
    elif args.format == "csv":
        _print_rows([{**head, **{f"record.{k}": v for k, v in found.record.items()}}], "csv")
    else:
        print(found.sentence)
        print(found.in_force)
        width = max((len(k) for k in found.record), default=0)
        for name, value in found.record.items():
            print(f"  {name:<{width}}  {_cell(value)}".rstrip())
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    """Run one SQL SELECT against the reader file on a read-only connection with external access
    disabled and the configuration locked: writes, `COPY … TO`, `ATTACH`, `INSTALL` and `LOAD`
    are refused (exit 2) and the warehouse is untouched. Tables: `releases`,
    `<source>_catalog` (rows with `_from`/`_to` release orders), `findings`, … (see the README's
    "Warehouse"); table macros `changes_between(source, from, to)`, `code_history(source, key)`,
    `catalog_as_of(source, date)`, `findings_as_of(date)` (the README's "SQL for analysts")."""
    from codecatalog import queries

    result = queries.query(warehouse_path(args.warehouse), args.sql)
    rows = [dict(zip(result.columns, row, strict=True)) for row in result.rows]
    if args.format == "table" and not rows:
        print("(no rows)")
        return 0
    _print_rows(rows, args.format, result.columns)
    return 0


def _print_rows(
    rows: Sequence[Mapping[str, Any]], fmt: str, columns: Sequence[str] | None = None
) -> None:
    """Rows as an aligned table (values in full), CSV with a header, or a JSON array."""
    names = list(columns if columns is not None else (rows[0] if rows else {}))
    if fmt == "json":
        _write_json([{k: row[k] for k in names} for row in rows])
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([[_cell(row[k]) for k in names] for row in rows])
    else:
        cells = [names, *([_cell(row[k]) for k in names] for row in rows)]
        widths = [max(len(line[i]) for line in cells) for i in range(len(names))]
        for line in cells:
            print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _write_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=_json_value)
    sys.stdout.write("\n")


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def cmd_findings(args: argparse.Namespace) -> int:
    """Every row of every loaded policy source that names a code retired or unknown on a date,
    grouped by code, with the code's retirement date and successors."""
    from codecatalog import warehouse
    from codecatalog.findings_as_of import as_of_frame, findings_as_of, render_as_of

    try:
        on = date.fromisoformat(args.as_of)
    except ValueError:
        raise UsageError(f"--as-of {args.as_of!r} is not a date (YYYY-MM-DD)") from None
    con = warehouse.open_reader(warehouse_path(args.warehouse))
    try:
        result = findings_as_of(con, on, args.source or None)
        if args.format == "text":
            sys.stdout.write(render_as_of(con, result))
        else:
            found = as_of_frame(con)
            if args.format == "csv":
                found.to_csv(sys.stdout, index=False, lineterminator="\n")
            else:
                records = found.astype(object).where(found.notna(), None).to_dict("records")
                json.dump(records, sys.stdout, indent=2, ensure_ascii=False, default=str)
                sys.stdout.write("\n")
    finally:
        con.close()
    return 0


def cmd_impact(args: argparse.Namespace) -> int:
    """A practice's own code list (chargemaster or fee schedule, CSV or XLSX) against every
    loaded code set on a date: retired codes with their successors, unknown and unchecked ones,
    codes revised since --since, and the policy rows that name its retired or unknown codes."""
    from codecatalog import warehouse
    from codecatalog.impact import (
        impact,
        read_practice_list,
        render_html,
        render_table,
        write_csv,
    )
    from codecatalog.queries import parse_date

    on = parse_date(args.as_of, "--as-of") if args.as_of else date.today()
    since = parse_date(args.since, "--since") if args.since else None
    practice = read_practice_list(Path(args.file), column=args.column)
    con = warehouse.open_reader(warehouse_path(args.warehouse))
    try:
        result = impact(con, practice, on, since)
    finally:
        con.close()
    if args.format == "csv":
        buffer = io.StringIO(newline="")
        write_csv(result, buffer)
        text = buffer.getvalue()
    elif args.format == "json":
        text = json.dumps(result.as_dict(), indent=2, ensure_ascii=False, default=str) + "\n"
    elif args.format == "html":
        text = render_html(result)
    else:
        text = render_table(result)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8", newline="")
    else:
        sys.stdout.write(text)
    return 0


def cmd_current(args: argparse.Namespace) -> int:
    """Point every published source's current.json at its newest version in force today (a
    refresh does it for its own source; run this daily so that a release loaded before its
    effective date becomes current on that date)."""
    from codecatalog.pipeline import point_current_all

    for name, version in point_current_all(warehouse_path(args.warehouse), wait=args.wait).items():
        print(f"{name}: {version or 'no version in force yet'}")
    return 0


def cmd_deployments(args: argparse.Namespace) -> int:
    """Print (or with --write, write) the prefect.yaml of the declared schedules: one deployment
    per schedule (`<source>-<name>`, flow `flows/scheduled.py:scheduled_refresh`, work pool
    `codecatalog`, one run at a time) plus the unscheduled `refresh-due`. Run `prefect deploy
    --all` next to it to register them."""
    from codecatalog.schedules import planned, prefect_yaml

    text = prefect_yaml(planned())
    if args.write:
        Path(args.write).write_text(text, encoding="utf-8")
        print(f"wrote {args.write}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_schedules(args: argparse.Namespace) -> int:
    """List each declared schedule's deployment, cron and timezone, and its next runs (computed
    as Prefect's scheduler does; no server needed)."""
    from codecatalog.schedules import next_runs, planned

    now = datetime.now().astimezone()
    rows = [
        {
            "deployment": plan.deployment,
            "cron": plan.schedule.cron,
            "timezone": plan.schedule.timezone,
            "looks_for": plan.schedule.looks_for,
            "next_runs": ", ".join(
                d.isoformat(sep=" ", timespec="minutes")
                for d in next_runs(plan.schedule, args.count, now)
            ),
        }
        for plan in planned()
    ]
    _print_rows(rows, args.format)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Per source: the last attempt (outcome, version, when, and why for a refusal), the version
    latest.json and current.json name, versions loaded but not published, and the next run —
    from the Prefect server when one is configured and answers, else from the declared
    schedules."""
    from codecatalog import warehouse
    from codecatalog.prefect_api import PrefectUnavailable, check_api, configured_api_url
    from codecatalog.status import server_next_runs, source_status
    from codecatalog.writer import READER_NAME

    directory = warehouse_path(args.warehouse)
    scheduled = None
    url = configured_api_url()
    if url:
        try:
            check_api(url)
            scheduled = server_next_runs(url)
        except PrefectUnavailable as err:
            print(f"note: {err}; next runs are from the declared schedules", file=sys.stderr)
    con = None
    if (directory / READER_NAME).is_file():
        con = warehouse.open_reader(directory)
    try:
        found = source_status(con, directory, datetime.now().astimezone(), scheduled)
    finally:
        if con is not None:
            con.close()
    _print_rows([s.row() for s in found], args.format)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve every declared schedule's deployment (and `refresh-due`) from this one process: a
    single machine's alternative to a work pool and a worker. Needs a running Prefect server
    (PREFECT_API_URL); stops on Ctrl-C, leaving the deployments' schedules active."""
    from prefect import serve
    from prefect.schedules import Cron

    from codecatalog.flows.scheduled import refresh_due, scheduled_refresh
    from codecatalog.prefect_api import check_api, configured_api_url
    from codecatalog.schedules import planned

    url = configured_api_url()
    if not url:
        raise UsageError(
            "serve needs a Prefect server: start `prefect server start` and set PREFECT_API_URL"
        )
    check_api(url)
    parameters = {"warehouse_dir": str(warehouse_path(args.warehouse))}
    deployments = [
        scheduled_refresh.to_deployment(
            name=plan.deployment,
            schedule=Cron(plan.schedule.cron, timezone=plan.schedule.timezone),
            parameters={"source": plan.source, "schedule": plan.schedule.name, **parameters},
            concurrency_limit=1,
            tags=["codecatalog", plan.source],
        )
        for plan in planned()
    ]
    deployments.append(refresh_due.to_deployment(name="refresh-due", parameters=parameters))
    with suppress(KeyboardInterrupt):  # Ctrl-C: the way to stop serving
        serve(*deployments, pause_on_shutdown=False)
    print("stopped serving; the deployments and their schedules stay registered")
    return 0


def cmd_run_due(args: argparse.Namespace) -> int:
    """Refresh every source whose schedule fired since its last success, in-process (no Prefect):
    the cron-only alternative, e.g. `0 7 * * * cd /srv/codecatalog && .venv/bin/codecatalog
    run-due`. Exits 1 when a release was refused (each source is still tried)."""
    from codecatalog.scheduled import run_due

    outcomes = run_due(warehouse_path(args.warehouse), datetime.now().astimezone(), args.source)
    rows = [
        {
            "source": o.source,
            "schedule": o.schedule,
            "version": o.version,
            "outcome": o.status,
            "message": o.summary,
        }
        for o in outcomes
    ]
    if rows:
        _print_rows(rows, args.format)
    else:
        print("no source is due")
    return 0 if all(o.ok for o in outcomes) else 1


def cmd_retract(args: argparse.Namespace) -> int:
    """Take a wrongly loaded version out of service, with an audit trail. It stays in the
    warehouse and on disk, marked retracted (who, when, why) in the `retractions` table and in
    `published/<source>/retractions.json`; `latest.json` and `current.json` move to the newest
    version still in service (removed when none is left), and diffs, history, lookup, findings
    and the SQL macros skip it. Loading the same release again needs a correction label
    (e.g. 2026r1)."""
    from codecatalog.pipeline import published_root
    from codecatalog.publish import CURRENT, LATEST, read_latest
    from codecatalog.retract import retract

    warehouse_dir = warehouse_path(args.warehouse)
    done = retract(warehouse_dir, args.source, args.version, args.reason, wait=args.wait)
    print(done)
    for name in (LATEST, CURRENT):
        named = read_latest(published_root(warehouse_dir), done.codeset, name)
        print(f"  {name + ':':<9}{named['version'] if named else '(none)'}")
    return 0


POLICY_PTP_ROWS = 2_000  # `samples --policy`: NCCI PTP edits (both tables) of the first quarter
POLICY_MUE_CODES = 300  # … and codes per MUE table


def cmd_samples(args: argparse.Namespace) -> int:
    """Generate synthetic CPT releases with their ground truth (and, with --policy, NCCI PTP and
    MUE releases for the first two quarters of the last year, with theirs)."""
    from codecatalog.samples import generate_releases

    for path in generate_releases(Path(args.out), args.years, seed=args.seed):
        print(path)
    if args.policy:
        from codecatalog.samples.policy import generate_mue, generate_ptp

        quarters = [f"{max(args.years)}Q1", f"{max(args.years)}Q2"]
        ncci = generate_ptp(Path(args.out), POLICY_PTP_ROWS, args.seed, quarters)
        mue = generate_mue(Path(args.out), POLICY_MUE_CODES, args.seed, quarters)
        for path in [*ncci, *mue]:
            print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (its help texts are the CLI reference in the README)."""
    parser = argparse.ArgumentParser(prog="codecatalog", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    warehouse_help = "warehouse directory (default: $CODECATALOG_WAREHOUSE or ./warehouse)"
    sources_help = "TOML file declaring more sources (repeatable; also $CODECATALOG_SOURCES)"
    format_help = "table (default), csv or json"

    def command(name: str, help: str, func: Any, *examples: str) -> argparse.ArgumentParser:
        lines = "\n".join(f"  codecatalog {name} {e}" for e in examples)
        return sub.add_parser(
            name,
            help=help,
            description=func.__doc__,
            epilog=f"example{'s' if len(examples) > 1 else ''}:\n{lines}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    def common(
        command: argparse.ArgumentParser,
        func: Any,
        formats: Sequence[str] | None = None,
        warehouse: bool = True,
    ) -> None:
        if formats is not None:
            command.add_argument("--format", choices=formats, default=formats[0], help=format_help)
        if warehouse:
            command.add_argument("--warehouse", help=warehouse_help)
        command.add_argument(
            "--sources", action="append", type=Path, metavar="FILE", help=sources_help
        )
        command.set_defaults(func=func)

    read_formats = ("table", "csv", "json")

    refresh = command(
        "refresh",
        "load one release and publish it",
        cmd_refresh,
        "cpt warehouse/samples/cpt-2026 --version 2026",
        "hcpcs 2020-07_anweb.xlsx --version 2020Q3 --transactions 2020-07_trans_alpha.xlsx",
    )
    refresh.add_argument("source", help="code set, e.g. cpt")
    refresh.add_argument("path", help="release directory, zip file, single file or http(s) URL")
    refresh.add_argument("--version", required=True, help="version label: 2026, 2026Q3, 2025r1")
    refresh.add_argument("--effective", help="effective date YYYY-MM-DD (default: from version)")
    refresh.add_argument(
        "--transactions", help="HCPCS transaction report (xlsx path or URL) for quarterly files"
    )
    runner = refresh.add_mutually_exclusive_group()
    runner.add_argument(
        "--plain", action="store_true", help="run the steps in-process, without Prefect"
    )
    runner.add_argument(
        "--prefect",
        action="store_true",
        help="run the Prefect flow even with no API configured (starts a temporary server)",
    )
    refresh.add_argument(
        "--wait",
        type=float,
        metavar="SECONDS",
        help="how long to wait for another refresh of the warehouse "
        "(default: $CODECATALOG_WRITER_WAIT or 60)",
    )
    refresh.add_argument(
        "--allow-shrink",
        action="store_true",
        help="load even if more than the declared max_vanished share of active keys vanish",
    )
    common(refresh, cmd_refresh)

    versions = command(
        "versions", "loaded versions with dates, row and change counts", cmd_versions, "cpt"
    )
    versions.add_argument("source", help="code set, e.g. cpt")
    common(versions, cmd_versions, read_formats)

    history = command(
        "history",
        "every change of one key across the loaded versions",
        cmd_history,
        "cpt 97383",
        "ncci_ptp 'practitioner|33904|26040' --format csv",
    )
    history.add_argument("source", help="code set, e.g. cpt")
    history.add_argument("key", help="the key; composite keys joined with |")
    common(history, cmd_history, read_formats)

    lookup = command(
        "lookup",
        "the record of one key in force on a date",
        cmd_lookup,
        "cpt 97383 --as-of 2025-03-01",
        "hcpcs G0202 --format json",
    )
    lookup.add_argument("source", help="code set, e.g. cpt")
    lookup.add_argument("key", help="the key; composite keys joined with |")
    lookup.add_argument("--as-of", metavar="DATE", help="the date, YYYY-MM-DD (default: today)")
    common(lookup, cmd_lookup, read_formats)

    diff = command(
        "diff",
        "net change between any two loaded versions",
        cmd_diff,
        "cpt 2024 2026 --format csv",
    )
    diff.add_argument("source", help="code set, e.g. cpt")
    diff.add_argument("from_version", metavar="FROM", help="earlier version")
    diff.add_argument("to_version", metavar="TO", help="later version")
    common(diff, cmd_diff, read_formats)

    query = command(
        "query",
        "read-only SQL against the reader file",
        cmd_query,
        "\"SELECT version, effective_date, row_count FROM releases WHERE codeset = 'cpt'\"",
        "\"SELECT change_type, count(*) FROM changes_between('cpt', '2024', '2026') GROUP BY ALL\"",
    )
    query.add_argument("sql", metavar="SQL", help="one SELECT statement")
    common(query, cmd_query, read_formats)

    findings = command(
        "findings",
        "policy rows naming codes retired or unknown on a date",
        cmd_findings,
        "--as-of 2026-04-01 --source ncci_ptp",
    )
    findings.add_argument(
        "--as-of", required=True, metavar="DATE", help="the date of service, YYYY-MM-DD"
    )
    findings.add_argument(
        "--source", action="append", help="only this policy source (repeatable; default: all)"
    )
    common(findings, cmd_findings, ("text", "csv", "json"))

    impact = command(
        "impact",
        "a practice's own code list against the loaded code sets on a date",
        cmd_impact,
        "fee_schedule.csv --as-of 2026-03-01 --since 2025-01-01",
        "chargemaster.xlsx --column 'CPT Code' --format html --out impact.html",
    )
    impact.add_argument(
        "file", help="the practice's code list: CSV (or other delimited text) or XLSX"
    )
    impact.add_argument("--as-of", metavar="DATE", help="the date, YYYY-MM-DD (default: today)")
    impact.add_argument(
        "--since", metavar="DATE", help="also list the codes revised since this date, YYYY-MM-DD"
    )
    impact.add_argument("--column", help="the header of the code column (default: detected)")
    impact.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    common(impact, cmd_impact, ("table", "csv", "json", "html"))

    current = command(
        "current",
        "point each source's current.json at its version in force today",
        cmd_current,
        "--warehouse warehouse",
    )
    current.add_argument(
        "--wait", type=float, metavar="SECONDS", help="how long to wait for a running refresh"
    )
    common(current, cmd_current)

    status = command(
        "status",
        "where each source stands: last attempt, latest, next run",
        cmd_status,
        "--warehouse warehouse --format json",
    )
    common(status, cmd_status, read_formats)

    serve = command(
        "serve",
        "serve the scheduled refreshes from this process (needs a Prefect server)",
        cmd_serve,
        "--warehouse /srv/codecatalog/warehouse",
    )
    common(serve, cmd_serve)

    run_due = command(
        "run-due",
        "refresh every source whose schedule fired since its last success (no Prefect)",
        cmd_run_due,
        "--warehouse warehouse",
    )
    run_due.add_argument(
        "--source", action="append", help="only this source (repeatable; default: all declared)"
    )
    common(run_due, cmd_run_due, read_formats)

    deployments = command(
        "deployments",
        "the prefect.yaml of the declared schedules",
        cmd_deployments,
        "--write prefect.yaml",
    )
    deployments.add_argument("--write", metavar="FILE", help="write it to FILE")
    common(deployments, cmd_deployments, warehouse=False)

    schedules = command(
        "schedules", "declared schedules and their next runs", cmd_schedules, "--count 3"
    )
    schedules.add_argument(
        "--count", type=int, default=3, metavar="N", help="next runs per schedule (default 3)"
    )
    common(schedules, cmd_schedules, read_formats, warehouse=False)

    retract = command(
        "retract",
        "take a wrongly loaded version out of service (kept, marked retracted)",
        cmd_retract,
        "cpt 2026 --reason 'loaded from the 2025 files by mistake'",
    )
    retract.add_argument("source", help="code set, e.g. cpt")
    retract.add_argument("version", help="the loaded version to retract, e.g. 2026")
    retract.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    retract.add_argument(
        "--wait", type=float, metavar="SECONDS", help="how long to wait for a running refresh"
    )
    common(retract, cmd_retract)

    samples = command(
        "samples",
        "generate synthetic CPT releases and ground truth",
        cmd_samples,
        "warehouse/samples --years 2024 2025 2026 --policy",
    )
    samples.add_argument("out", help="output directory")
    samples.add_argument("--years", type=int, nargs="+", required=True)
    samples.add_argument("--seed", type=int, default=0)
    samples.add_argument(
        "--policy",
        action="store_true",
        help="also NCCI PTP and MUE releases (quarters 1, 2 of the last year) naming those codes",
    )
    samples.add_argument("--sources", action="append", type=Path, metavar="FILE", help=sources_help)
    samples.set_defaults(func=cmd_samples)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; refused input exits 2 with a message naming file, line, column and value."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `codecatalog diff … | head` exits quietly
    args = build_parser().parse_args(argv)
    try:
        steplog.configure()  # $CODECATALOG_LOG_FORMAT=json|text: one record per step on stderr
        sources.use_sources(args.sources or [])
        code: int = args.func(args)
        return code
    except ValidationFailed as err:
        print(f"error: refused: {err}", file=sys.stderr)
        return EXIT_REFUSED
    except CodecatalogError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
