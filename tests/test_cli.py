"""The command line: documented commands, exit codes, output formats."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_run import refresh_argv

from codecatalog.cli import EXIT_REFUSED, build_parser, main

README = Path(__file__).parents[1] / "README.md"


def test_every_command_is_documented_in_the_readme() -> None:
    readme = README.read_text(encoding="utf-8")
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    for name, parser in subparsers.choices.items():
        assert f"`codecatalog {name} " in readme, name
        for action in parser._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    documented = re.search(rf"`codecatalog {name} [^`]*{flag}", readme)
                    assert documented, f"{name} {flag}"


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
