"""The `codecatalog` command: refresh a release, diff two loaded versions, ask which policy rows
name retired codes, generate samples."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from codecatalog import sources
from codecatalog.errors import CodecatalogError, UsageError, ValidationFailed

if TYPE_CHECKING:
    from codecatalog.pipeline import RefreshResult

EXIT_REFUSED = 2


def _warehouse(value: str | None) -> Path:
    return Path(value or os.environ.get("CODECATALOG_WAREHOUSE") or "warehouse")


def cmd_refresh(args: argparse.Namespace) -> int:
    """Run the refresh for one release and print what was published.

    Through the Prefect flow when a Prefect API is configured (or with --prefect), otherwise the
    same steps in-process (--plain forces that).
    """
    from codecatalog import pipeline

    warehouse_dir = _warehouse(args.warehouse)
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
        result = pipeline.refresh(
            request.codeset,
            request.source_uri,
            request.version.label,
            warehouse_dir=warehouse_dir,
            effective=request.effective,
            transactions=request.transactions,
            wait=args.wait,
            allow_shrink=request.allow_shrink,
        )
    _print_result(result)
    return 0


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
    """Print the changes between two loaded versions."""
    from codecatalog import warehouse
    from codecatalog.diff.changes import changes_between
    from codecatalog.sources import source

    con = warehouse.open_reader(_warehouse(args.warehouse))
    try:
        cfg = warehouse.stored_declaration(con, args.source) or source(args.source)
        changes = changes_between(con, cfg, args.from_version, args.to_version)
    finally:
        con.close()
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


def cmd_findings(args: argparse.Namespace) -> int:
    """Every row of every loaded policy source that names a code retired or unknown on a date,
    grouped by code, with the code's retirement date and successors."""
    from codecatalog import warehouse
    from codecatalog.findings_as_of import as_of_frame, findings_as_of, render_as_of

    try:
        on = date.fromisoformat(args.as_of)
    except ValueError:
        raise UsageError(f"--as-of {args.as_of!r} is not a date (YYYY-MM-DD)") from None
    con = warehouse.open_reader(_warehouse(args.warehouse))
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


def cmd_current(args: argparse.Namespace) -> int:
    """Point every published source's current.json at its newest version in force today (a
    refresh does it for its own source; run this daily so that a release loaded before its
    effective date becomes current on that date)."""
    from codecatalog.pipeline import point_current_all

    for name, version in point_current_all(_warehouse(args.warehouse), wait=args.wait).items():
        print(f"{name}: {version or 'no version in force yet'}")
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

    refresh = sub.add_parser(
        "refresh", help="load one release and publish it", description=cmd_refresh.__doc__
    )
    refresh.add_argument("source", help="code set, e.g. cpt")
    refresh.add_argument("path", help="release directory, zip file, single file or http(s) URL")
    refresh.add_argument("--version", required=True, help="version label: 2026, 2026Q3, 2025r1")
    refresh.add_argument("--effective", help="effective date YYYY-MM-DD (default: from version)")
    refresh.add_argument(
        "--transactions", help="HCPCS transaction report (xlsx path or URL) for quarterly files"
    )
    refresh.add_argument("--warehouse", help=warehouse_help)
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
    refresh.add_argument("--sources", action="append", type=Path, metavar="FILE", help=sources_help)
    refresh.set_defaults(func=cmd_refresh)

    diff = sub.add_parser(
        "diff", help="changes between two loaded versions", description=cmd_diff.__doc__
    )
    diff.add_argument("source", help="code set, e.g. cpt")
    diff.add_argument("from_version", metavar="FROM", help="earlier version")
    diff.add_argument("to_version", metavar="TO", help="later version")
    diff.add_argument("--format", choices=["table", "csv", "json"], default="table")
    diff.add_argument("--warehouse", help=warehouse_help)
    diff.add_argument("--sources", action="append", type=Path, metavar="FILE", help=sources_help)
    diff.set_defaults(func=cmd_diff)

    findings = sub.add_parser(
        "findings",
        help="policy rows naming codes retired or unknown on a date",
        description=cmd_findings.__doc__,
    )
    findings.add_argument(
        "--as-of", required=True, metavar="DATE", help="the date of service, YYYY-MM-DD"
    )
    findings.add_argument(
        "--source", action="append", help="only this policy source (repeatable; default: all)"
    )
    findings.add_argument("--format", choices=["text", "csv", "json"], default="text")
    findings.add_argument("--warehouse", help=warehouse_help)
    findings.add_argument(
        "--sources", action="append", type=Path, metavar="FILE", help=sources_help
    )
    findings.set_defaults(func=cmd_findings)

    current = sub.add_parser(
        "current",
        help="point each source's current.json at its version in force today",
        description=cmd_current.__doc__,
    )
    current.add_argument("--warehouse", help=warehouse_help)
    current.add_argument(
        "--wait", type=float, metavar="SECONDS", help="how long to wait for a running refresh"
    )
    current.add_argument("--sources", action="append", type=Path, metavar="FILE", help=sources_help)
    current.set_defaults(func=cmd_current)

    samples = sub.add_parser(
        "samples",
        help="generate synthetic CPT releases and ground truth",
        description=cmd_samples.__doc__,
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
