"""The command line: documented commands, exit codes, output formats."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
from cli_run import refresh_argv

from codecatalog.cli import EXIT_REFUSED, build_parser, main

README = Path(__file__).parents[1] / "README.md"


def _commands(parser: argparse.ArgumentParser | None = None) -> dict[str, argparse.ArgumentParser]:
    parser = parser or build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    return dict(subparsers.choices)


def undocumented(readme: str, parser: argparse.ArgumentParser) -> list[str]:
    """What a README leaves out: a command without a `codecatalog NAME …` line, an option that
    line does not name (as a whole flag: `--sources` does not cover `--source`), a choice of an
    option it does not list."""
    missing = []
    for name, command in _commands(parser).items():
        usages = re.findall(rf"`codecatalog {name} [^`]*`", readme)
        if not usages:
            missing.append(name)
        for action in command._actions:
            for flag in action.option_strings:
                if flag in ("-h", "--help"):
                    continue
                whole = re.compile(rf"{re.escape(flag)}(?![\w-])")
                documented = [u for u in usages if whole.search(u)]
                if not documented:
                    missing.append(f"{name} {flag}")
                missing += [
                    f"{name} {flag} {choice}"
                    for choice in action.choices or ()
                    if documented and not any(str(choice) in u for u in documented)
                ]
    return missing


def test_every_command_and_option_is_documented_in_the_readme() -> None:
    assert undocumented(README.read_text(encoding="utf-8"), build_parser()) == []


def test_an_undocumented_command_option_or_choice_is_found() -> None:
    parser = argparse.ArgumentParser(prog="codecatalog")
    sub = parser.add_subparsers(dest="command")
    diff = sub.add_parser("diff")
    diff.add_argument("--format", choices=["table", "csv", "json"])
    diff.add_argument("--source")
    diff.add_argument("--sources")
    sub.add_parser("versions")
    readme = "| `codecatalog diff SOURCE FROM TO [--format table\\|csv] [--sources FILE]` | … |"
    assert undocumented(readme, parser) == ["diff --format json", "diff --source", "versions"]


def test_every_command_help_has_an_example(capsys: pytest.CaptureFixture) -> None:
    for name in _commands():
        with pytest.raises(SystemExit):
            main([name, "--help"])
        shown = capsys.readouterr().out
        assert re.search(rf"^examples?:\n  codecatalog {name} ", shown, re.MULTILINE), name


def test_refresh_prints_what_it_published(
    samples: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    wh = tmp_path / "wh"
    assert main(refresh_argv(samples / "cpt-2024", "2024", wh, "--plain")) == 0
    assert capsys.readouterr().out == (
        "cpt 2024: loaded\n"
        f"  published: {wh / 'published/cpt/2024'}\n"
        f"  report:    {wh / 'published/cpt/2024/report.md'}\n"
        "  latest:    2024\n"
        "  changes:   none (first loaded version)\n"
    )


def test_refused_release_exits_2_with_the_reason(
    samples: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code = main(
        [
            "refresh",
            "cpt",
            str(samples / "cpt-2024"),
            "--version",
            "2025",
            "--warehouse",
            str(tmp_path / "wh"),
            "--plain",
        ]
    )
    assert code == EXIT_REFUSED
    assert capsys.readouterr().err == (
        "error: version 2025 contradicts standard/LONGULT.txt: it states the year 2024\n"
    )


def test_diff_json_and_errors(
    loaded_warehouse: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODECATALOG_WAREHOUSE", str(loaded_warehouse))
    assert main(["diff", "cpt", "2025", "2026", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0].keys() == {
        "codeset",
        "from_version",
        "to_version",
        "key",
        "change_type",
        "field",
        "old_value",
        "new_value",
        "effective_date",
        "source_action",
    }
    assert {r["effective_date"] for r in rows} == {"2026-01-01"}

    assert main(["diff", "cpt", "2026", "2025"]) == EXIT_REFUSED
    assert capsys.readouterr().err == "error: FROM (2026) must be earlier than TO (2025)\n"
    assert main(["diff", "cpt", "2024", "2027"]) == EXIT_REFUSED
    assert capsys.readouterr().err == (
        "error: cpt version '2027' is not loaded (loaded: 2024, 2025, 2026)\n"
    )
