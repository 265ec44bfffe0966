"""Source declarations: users' TOML files, validation when read, and a declaration's identity."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from codecatalog import sources
from codecatalog.cli import build_parser, main
from codecatalog.errors import DeclarationError, UnknownSource
from codecatalog.sources import (
    Column,
    ReadOptions,
    Retirement,
    SourceConfig,
    config_from_json,
    declaration_json,
    declaration_sha256,
    schema_sha256,
    source,
    tracked_identity,
    use_sources,
)

CASES = Path(__file__).parent / "cases" / "declarations"
NORTHWIND = CASES / "northwind" / "northwind_pa.toml"
ACME = CASES / "composite" / "acme_edits.toml"

NORTHWIND_PA = SourceConfig(
    name="northwind_pa",
    title="Northwind Health prior-authorization list",
    family="table",
    key=("code",),
    schema=NORTHWIND.parent / "northwind_pa.yaml",
    descriptors=("description",),
    attributes=("pa_required", "category"),
    source_action=None,
    columns=(
        Column("code", "Procedure Code"),
        Column("description", "Description"),
        Column("pa_required", "PA Required?"),
        Column("category", "Service Category"),
    ),
    read=ReadOptions(sheet="PA List", header="Procedure Code"),
    code_columns=("code",),
    code_sets=("hcpcs",),
    declared_in=NORTHWIND,
)

ACME_EDITS = SourceConfig(
    name="acme_edits",
    title="Acme Health procedure-to-procedure edits",
    family="table",
    key=("column1", "column2"),
    schema=ACME.parent / "acme_edits.yaml",
    descriptors=(),
    attributes=("modifier_indicator", "rationale"),
    source_action=None,
    columns=(
        Column("column1", "Column 1", pad=5),
        Column("column2", "Column 2", pad=5),
        Column("prior_1996", "* = In existence prior to 1996"),
        Column("effective_date", "Effective Date"),
        Column("deletion_date", "Deletion Date *=no data"),
        Column("modifier_indicator", "Modifier 0=not allowed 1=allowed 9=not applicable"),
        Column("rationale", "PTP Edit Rationale"),
    ),
    read=ReadOptions(header="Column 1", header_rows=2, members="*.txt"),
    retire=Retirement("deletion_date", ("*",), last_valid_day=False, date_format="%Y%m%d"),
    max_vanished=0.02,
    code_columns=("column1", "column2"),
    code_sets=("cpt", "hcpcs"),
    declared_in=ACME,
    cadence="quarterly",
)


@pytest.fixture(autouse=True)
def _no_user_sources(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts and ends with the built-in declarations only."""
    monkeypatch.delenv(sources.SOURCES_ENV, raising=False)
    use_sources([])
    yield
    use_sources([])


# --- loading ------------------------------------------------------------------------------------


def test_the_built_in_sources_keep_their_declarations() -> None:
    assert sorted(sources.sources()) == ["cpt", "hcpcs", "mue", "ncci_ptp", "opps_addb", "pfs_rvu"]
    cpt, hcpcs = source("cpt"), source("hcpcs")
    assert (cpt.key, cpt.family, cpt.declared_in) == (("code",), "ama_cpt", None)
    assert cpt.schema == sources.builtin_schemas() / "cpt_release.yaml"
    assert cpt.schema.is_file()
    assert cpt.code_shape == r"\d{4}[0-9FTUAM]"
    assert cpt.source_action == "history"
    assert cpt.detail == sources.Detail(
        "clinician_descriptor", "clinician_descriptor_id", "clinician_descriptor"
    )
    assert (hcpcs.key, hcpcs.code_shape) == (("code",), "[A-CE-V]\\d{4}")
    assert (hcpcs.term_date, hcpcs.retire, hcpcs.add_date) == ("term_dt", None, "add_dt")
    assert hcpcs.successors == ("xref1", "xref2", "xref3", "xref4", "xref5")
    assert hcpcs.source_action == "action_cd"
    assert hcpcs.actions is not None and hcpcs.actions["S"] == ("short_descriptor",)
    assert sources.builtin_file().name == "sources.toml"


def test_the_issue_declaration_loads_from_a_file_named_like_sources() -> None:
    use_sources([NORTHWIND])
    assert source("northwind_pa") == NORTHWIND_PA
    assert sorted(sources.sources()) == [
        "cpt", "hcpcs", "mue", "ncci_ptp", "northwind_pa", "opps_addb", "pfs_rvu"
    ]  # fmt: skip


def test_declarations_load_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sources.SOURCES_ENV, f"{NORTHWIND}::{ACME}:")
    assert source("northwind_pa") == NORTHWIND_PA
    assert source("acme_edits") == ACME_EDITS
    assert sources.user_files() == (NORTHWIND, ACME)


def test_a_file_named_both_ways_is_read_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(NORTHWIND.parent)
    monkeypatch.setenv(sources.SOURCES_ENV, str(NORTHWIND))
    use_sources([Path("northwind_pa.toml"), ACME])
    assert sources.user_files() == (NORTHWIND, ACME)
    assert source("northwind_pa") == NORTHWIND_PA


def test_an_unknown_source_lists_every_declared_one() -> None:
    use_sources([NORTHWIND])
    with pytest.raises(UnknownSource) as caught:
        source("northwind")
    assert str(caught.value) == (
        "unknown source 'northwind'; declared: cpt, hcpcs, mue, ncci_ptp, northwind_pa, "
        "opps_addb, pfs_rvu"
    )


def test_code_sets_may_be_declared_in_a_later_file(tmp_path: Path) -> None:
    shutil.copy(sources.builtin_schemas() / "hcpcs_records.yaml", tmp_path / "codes.yaml")
    later = tmp_path / "local_codes.toml"
    later.write_text(
        '[local_codes]\ntitle = "Local codes"\nfamily = "hcpcs"\nkey = "code"\n'
        "schema = \"codes.yaml\"\ndescriptors = []\nattributes = []\ncode_shape = 'X\\d{4}'\n",
        encoding="utf-8",
    )
    payer = _copy_northwind(
        tmp_path / "payer", 'code_sets = ["hcpcs"]', 'code_sets = ["local_codes"]'
    )
    use_sources([payer, later])
    assert source("northwind_pa").code_sets == ("local_codes",)
    assert source("local_codes").schema == tmp_path / "codes.yaml"
    assert source("local_codes").code_shape == r"X\d{4}"


# --- refusals -----------------------------------------------------------------------------------


def _copy_northwind(folder: Path, *edits: str, yaml_edits: tuple[str, ...] = ()) -> Path:
    """The northwind declaration and schema copied into `folder`, with (old, new, ...) edits."""
    folder.mkdir(parents=True, exist_ok=True)
    toml = NORTHWIND.read_text(encoding="utf-8")
    for old, new in zip(edits[::2], edits[1::2], strict=True):
        assert old in toml, old
        toml = toml.replace(old, new)
    yaml = NORTHWIND_PA.schema.read_text(encoding="utf-8")
    for old, new in zip(yaml_edits[::2], yaml_edits[1::2], strict=True):
        assert old in yaml, old
        yaml = yaml.replace(old, new)
    (folder / "northwind_pa.toml").write_text(toml, encoding="utf-8")
    (folder / "northwind_pa.yaml").write_text(yaml, encoding="utf-8")
    return folder / "northwind_pa.toml"


def _refusal(*files: Path) -> str:
    use_sources(list(files))
    with pytest.raises(DeclarationError) as caught:
        sources.sources()
    message = str(caught.value)
    assert "\n" not in message
    return message


TITLE = 'title = "Northwind Health prior-authorization list"\n'
CODE = 'code = "Procedure Code"'
READ_SHEET = 'sheet = "PA List"'
TERM = 'category = "Service Category"\nend_date = "End Date"'

# (edits of the TOML text: old, new, ...; the problem the message ends with)
REFUSED = {
    "unknown key": (
        (TITLE, TITLE + 'colour = "red"\n'),
        "unknown key 'colour'",
    ),
    "unknown family": (
        ('family = "table"', 'family = "tabel"'),
        "unknown family 'tabel' (known: ama_cpt, hcpcs, table)",
    ),
    "family not a name": (
        ('family = "table"', 'family = ["table"]'),
        "unknown family ['table'] (known: ama_cpt, hcpcs, table)",
    ),
    "missing title": ((TITLE, ""), "missing required key 'title'"),
    "missing family": (('family = "table"\n', ""), "missing required key 'family'"),
    "missing columns": (
        ("[northwind_pa.columns]", "[elsewhere]"),
        "missing required key 'columns'",
    ),
    "key column not declared": (
        ('key = ["code"]', 'key = ["code", "modifier"]'),
        "key column 'modifier' is not in [northwind_pa.columns]",
    ),
    "descriptor not declared": (
        ('descriptors = ["description"]', 'descriptors = ["long_description"]'),
        "descriptor 'long_description' is not in [northwind_pa.columns]",
    ),
    "attribute not declared": (
        ('"pa_required", "category"]', '"pa_required", "site"]'),
        "attribute 'site' is not in [northwind_pa.columns]",
    ),
    "code column not declared": (
        ('code_columns = ["code"]', 'code_columns = ["cpt_code"]'),
        "code column 'cpt_code' is not in [northwind_pa.columns]",
    ),
    "term_date column not declared": (
        (TITLE, TITLE + 'term_date = "end_date"\n'),
        "term_date column 'end_date' is not in [northwind_pa.columns]",
    ),
    "attribute also a descriptor": (
        ('"pa_required", "category"]', '"pa_required", "description"]'),
        "'description' is both a descriptor and an attribute",
    ),
    "key column also an attribute": (
        ('"pa_required", "category"]', '"pa_required", "category", "code"]'),
        "key column 'code' is also an attribute",
    ),
    "empty key": (('key = ["code"]', "key = []"), "key must name at least one column"),
    "key of the wrong type": (
        ('key = ["code"]', "key = 5"),
        "key must be a column name or a list of them, got 5",
    ),
    "key column twice": (('key = ["code"]', 'key = ["code", "code"]'), "key names 'code' twice"),
    "title not a string": (
        (TITLE, "title = 5\n"),
        "title must be a non-empty string, got 5",
    ),
    "column name not lower-case": (
        (CODE, CODE + '\nCode2 = "Other Code"'),
        "[northwind_pa.columns] column name 'Code2' is not a lower-case identifier (a-z, 0-9, _)",
    ),
    "column name reserved": (
        (CODE, CODE + '\n_file = "File"'),
        "[northwind_pa.columns] column name '_file' starts with '_' (reserved for codecatalog's "
        "own)",
    ),
    "column of the wrong type": (
        (CODE, "code = 5"),
        '[northwind_pa.columns] code: expected a header string or {header = "...", pad = N}, got 5',
    ),
    "blank header": (
        (CODE, 'code = " "'),
        '[northwind_pa.columns] code: expected a header string or {header = "...", pad = N}, '
        "got ' '",
    ),
    "pad not positive": (
        (CODE, 'code = { header = "Procedure Code", pad = 0 }'),
        "[northwind_pa.columns] code: pad must be a positive integer, got 0",
    ),
    "unknown inline key": (
        (CODE, 'code = { header = "Procedure Code", width = 5 }'),
        "[northwind_pa.columns] code: unknown key 'width'",
    ),
    "inline table without header": (
        (CODE, "code = { pad = 5 }"),
        "[northwind_pa.columns] code: missing required key 'header'",
    ),
    "headers equal after normalising": (
        ('category = "Service Category"', 'category = " PROCEDURE\\u00A0\\n  code "'),
        "[northwind_pa.columns] headers of 'code' and 'category' are the same: 'procedure code'",
    ),
    "unknown read key": (
        (READ_SHEET, 'shet = "PA List"'),
        "[northwind_pa.read] unknown key 'shet'",
    ),
    "header_rows below 1": (
        (READ_SHEET, READ_SHEET + "\nheader_rows = 0"),
        "[northwind_pa.read] header_rows must be an integer >= 1, got 0",
    ),
    "members not a glob": (
        (READ_SHEET, READ_SHEET + "\nmembers = 5"),
        "[northwind_pa.read] members must be a non-empty string, got 5",
    ),
    "undeclared code set": (
        ('code_sets = ["hcpcs"]', 'code_sets = ["hcpcx"]'),
        "code set 'hcpcx' is not declared (declared: cpt, hcpcs, mue, ncci_ptp, northwind_pa, "
        "opps_addb, pfs_rvu)",
    ),
    "code set without a shape": (
        ('code_sets = ["hcpcs"]', 'code_sets = ["northwind_pa"]'),
        "code set 'northwind_pa' declares no code_shape",
    ),
    "code columns without code sets": (
        ('code_sets = ["hcpcs"]', ""),
        "code_columns needs code_sets (the code sets the codes are looked up in)",
    ),
    "max_vanished above 1": (
        (TITLE, TITLE + "max_vanished = 1.5\n"),
        "max_vanished must be a number from 0 to 1, got 1.5",
    ),
    "term_date_is unknown": (
        (
            'category = "Service Category"',
            TERM,
            TITLE,
            TITLE + 'term_date = "end_date"\nterm_date_is = "yesterday"\n',
        ),
        "term_date_is must be 'last_valid_day' or 'first_invalid_day', got 'yesterday'",
    ),
    "term_date_format without a day": (
        (
            'category = "Service Category"',
            TERM,
            TITLE,
            TITLE + 'term_date = "end_date"\nterm_date_format = "%Y-%m"\n',
        ),
        "term_date_format '%Y-%m' does not write and read back a whole date",
    ),
    "active_values without term_date": (
        (TITLE, TITLE + 'active_values = ["99991231"]\n'),
        "active_values needs term_date (the column holding the term date)",
    ),
    "a key of another family": (
        (TITLE, TITLE + 'detail = { name = "a", id = "b", value = "c" }\n'),
        "unknown key 'detail'",
    ),
    # --- issue 8: source keys
    "licence not names": (
        (TITLE, TITLE + "licence = [1]\n"),
        "licence must be a name or a list of names, got [1]",
    ),
    "release_values column not declared": (
        (TITLE, TITLE + 'release_values = ["factor"]\n'),
        "release_values column 'factor' is not in [northwind_pa.columns]",
    ),
    "release_values column tracked": (
        (TITLE, TITLE + 'release_values = ["category"]\n'),
        "release_values column 'category' is also a key column or tracked",
    ),
    "release_values column the key": (
        (TITLE, TITLE + 'release_values = ["code"]\n'),
        "release_values column 'code' is also a key column or tracked",
    ),
    "duplicate_keys unknown": (
        (TITLE, TITLE + 'duplicate_keys = "first_wins"\n'),
        "duplicate_keys must be 'refuse' or 'active_wins', got 'first_wins'",
    ),
    "active_wins without term_date": (
        (TITLE, TITLE + 'duplicate_keys = "active_wins"\n'),
        "duplicate_keys = 'active_wins' needs term_date (which row is active)",
    ),
    "version_check unknown": (
        (TITLE, TITLE + 'version_check = "ncci"\n'),
        "unknown version_check 'ncci' (known: mue, ncci_ptp, opps_addb, pfs_rvu)",
    ),
    "source_action column not declared": (
        (TITLE, TITLE + 'source_action = "change_marker"\n'),
        "source_action column 'change_marker' is not in [northwind_pa.columns]",
    ),
    "source_action column tracked": (
        (TITLE, TITLE + 'source_action = "category"\n'),
        "source_action column 'category' is also a key column or tracked",
    ),
    # --- issue 8: column options
    "header alternatives not strings": (
        (CODE, 'code = { header = ["Procedure Code", 5] }'),
        '[northwind_pa.columns] code: expected a header string or {header = "...", pad = N}, '
        "got ['Procedure Code', 5]",
    ),
    "header alternative twice": (
        (CODE, 'code = { header = ["Procedure Code", "PROCEDURE  code"] }'),
        "[northwind_pa.columns] code: header 'PROCEDURE  code' is listed twice",
    ),
    "alternative equal to another column's header": (
        (CODE, 'code = { header = ["Procedure Code", "Description"] }'),
        "[northwind_pa.columns] headers of 'code' and 'description' are the same: 'description'",
    ),
    "match unknown": (
        (CODE, 'code = { header = "Procedure Code", match = "suffix" }'),
        "[northwind_pa.columns] code: match must be 'exact' or 'prefix', got 'suffix'",
    ),
    "optional not a boolean": (
        (CODE, 'code = { header = "Procedure Code", optional = "yes" }'),
        "[northwind_pa.columns] code: optional must be true or false, got 'yes'",
    ),
    "nulls not strings": (
        (CODE, 'code = { header = "Procedure Code", nulls = "." }'),
        "[northwind_pa.columns] code: nulls must be a list of non-blank strings, got '.'",
    ),
    "map not a table of strings": (
        (CODE, 'code = { header = "Procedure Code", map = { "*" = true } }'),
        "[northwind_pa.columns] code: map must be a table of value = value, got {'*': True}",
    ),
    "map key with spaces": (
        (CODE, 'code = { header = "Procedure Code", map = { " * " = "true" } }'),
        "[northwind_pa.columns] code: map keys are compared after trimming: they cannot start "
        "or end with whitespace",
    ),
    "decimals negative": (
        (CODE, 'code = { header = "Procedure Code", decimals = -1 }'),
        "[northwind_pa.columns] code: decimals must be an integer from 0 to 18, got -1",
    ),
    "position backwards": (
        (CODE, 'code = { header = "Procedure Code", position = [5, 1] }'),
        "[northwind_pa.columns] code: position must be [start, end] with 1 <= start <= end, "
        "got [5, 1]",
    ),
    "position without fixed_width": (
        (CODE, 'code = { header = "Procedure Code", position = [1, 5] }'),
        "[northwind_pa.columns] code: position needs [northwind_pa.read] fixed_width",
    ),
    "fixed_width without positions": (
        (READ_SHEET, READ_SHEET + '\nfixed_width = "*.txt"'),
        "[northwind_pa.columns] code: fixed_width needs a position for every column",
    ),
    "skip_prefix without fixed_width": (
        (READ_SHEET, READ_SHEET + '\nskip_prefix = "HDR"'),
        "[northwind_pa.read] skip_prefix needs fixed_width",
    ),
    "part column with a header": (
        (CODE, CODE + '\ntable = { header = "Table", part = true }'),
        "[northwind_pa.columns] table: a part or derived column has no header",
    ),
    "part column without read.parts": (
        (CODE, CODE + "\ntable = { part = true }"),
        "part column 'table' needs [northwind_pa.read] parts",
    ),
    "read.parts without a part column": (
        (READ_SHEET, READ_SHEET + '\nparts = { "*a*" = "a" }'),
        "[northwind_pa.read] parts needs a column declared with part = true",
    ),
    "two part columns": (
        (CODE, CODE + "\ntable = { part = true }\nother = { part = true }"),
        "[northwind_pa.columns] only one part column may be declared, got table, other",
    ),
    "parts not a table of strings": (
        (CODE, CODE + "\ntable = { part = true }", READ_SHEET, READ_SHEET + "\nparts = [1]"),
        "[northwind_pa.read] parts must be a table of glob = part value, got [1]",
    ),
    "from an undeclared column": (
        (CODE, CODE + "\nmai = { from = \"mai_text\", extract = '^([0-9])' }"),
        "[northwind_pa.columns] mai: from column 'mai_text' is not declared",
    ),
    "from a derived column": (
        (
            CODE,
            CODE + "\nmai = { from = \"code\", extract = '^([0-9])' }"
            "\nmai2 = { from = \"mai\", extract = '^([0-9])' }",
        ),
        "[northwind_pa.columns] mai2: from column 'mai' is itself derived",
    ),
    "extract without from": (
        (CODE, CODE + "\nmai = { extract = '^([0-9])' }"),
        "[northwind_pa.columns] mai: from must name a column (with extract), got None",
    ),
    "extract not a regex": (
        (CODE, CODE + "\nmai = { from = \"code\", extract = '^([0-9]' }"),
        "[northwind_pa.columns] mai: extract '^([0-9]' is not a regular expression: missing ), "
        "unterminated subpattern at position 1",
    ),
    "extract without a group": (
        (CODE, CODE + "\nmai = { from = \"code\", extract = '^[0-9]' }"),
        "[northwind_pa.columns] mai: extract '^[0-9]' has no group (the value is its first group)",
    ),
    "extract DuckDB cannot run": (
        (CODE, CODE + "\nmai = { from = \"code\", extract = '(?<=A)([0-9])' }"),
        "[northwind_pa.columns] mai: extract '(?<=A)([0-9])' is not a regular expression DuckDB "
        "runs:",
    ),
    "derived column with a header": (
        (CODE, CODE + '\nmai = { header = "MAI", from = "code", extract = \'(.)\' }'),
        "[northwind_pa.columns] mai: a part or derived column has no header",
    ),
    # --- issue 8: read options
    "header_in unknown": (
        (READ_SHEET, READ_SHEET + '\nheader_in = "middle_row"'),
        "[northwind_pa.read] header_in must be 'first_row' or 'last_row', got 'middle_row'",
    ),
    "last_row without a header": (
        ('header = "Procedure Code"', 'header_in = "last_row"'),
        "[northwind_pa.read] header_in = 'last_row' needs header (the text of the last header row)",
    ),
    "complete_lines not a boolean": (
        (READ_SHEET, READ_SHEET + "\ncomplete_lines = 1"),
        "[northwind_pa.read] complete_lines must be true or false, got 1",
    ),
    "fixed_width not a glob": (
        (READ_SHEET, READ_SHEET + "\nfixed_width = 1"),
        "[northwind_pa.read] fixed_width must be a non-empty string, got 1",
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_a_bad_declaration_is_refused_in_one_line(case: str, tmp_path: Path) -> None:
    edits, problem = REFUSED[case]
    toml = _copy_northwind(tmp_path, *edits)
    entry = "" if problem.startswith("[") else "[northwind_pa] "
    message = _refusal(toml)
    if problem.endswith(":"):  # the rest is DuckDB's own wording
        assert message.startswith(f"{toml}: {entry}{problem}")
    else:
        assert message == f"{toml}: {entry}{problem}"


def test_a_missing_schema_file_is_refused(tmp_path: Path) -> None:
    toml = _copy_northwind(tmp_path, '"northwind_pa.yaml"', '"schemas/northwind.yaml"')
    assert _refusal(toml) == (
        f"{toml}: [northwind_pa] schema file not found: {tmp_path / 'schemas/northwind.yaml'}"
    )


def test_a_bad_source_name_is_refused(tmp_path: Path) -> None:
    toml = _copy_northwind(tmp_path, "[northwind_pa]", "[Northwind-PA]")
    assert _refusal(toml) == (
        f"{toml}: [Northwind-PA] source name is not a lower-case identifier (a-z, 0-9, _)"
    )


SCHEMA_REFUSED = {
    "yaml syntax": (
        ("columns:\n", "columns: [\n"),
        ": does not parse: line 6, column 10: expected ',' or ']', but got ':'",
    ),
    "not a mapping of columns": (
        ("columns:\n", "cols:\n"),
        ": unknown key(s) cols",
    ),
    "undeclared column": (
        ("  category:\n", "  modifier:\n    dtype: str\n  category:\n"),
        ": column 'modifier': in the schema but not among the declared columns",
    ),
    "undeclared unique column": (
        ("columns:\n", "unique: [code, modifier]\ncolumns:\n"),
        "names column 'modifier', which is not in [northwind_pa.columns]",
    ),
    "misspelt check": (
        ("    str_matches:", "    str_maches:"),
        ": column 'code': unknown key(s) str_maches",
    ),
    "misspelt schema key": (
        ("columns:\n", "uniqe: [code]\ncolumns:\n"),
        ": unknown key(s) uniqe",
    ),
    "flag not a boolean": (
        ("    nullable: true\n", '    nullable: "maybe"\n'),
        ": column 'category': nullable must be true or false",
    ),
    "unknown dtype": (
        ("  category:\n    dtype: str\n", "  category:\n    dtype: text\n"),
        ": not a usable pandera schema: data type 'text' not understood",
    ),
    "bad regular expression": (
        ("'^(\\d{4}[0-9FTUAM]|[A-V]\\d{4})$'", "'^(['"),
        ": not a usable pandera schema: unterminated character set at position 2",
    ),
}


@pytest.mark.parametrize("case", SCHEMA_REFUSED, ids=list(SCHEMA_REFUSED))
def test_a_bad_schema_is_refused_in_one_line(case: str, tmp_path: Path) -> None:
    edits, problem = SCHEMA_REFUSED[case]
    toml = _copy_northwind(tmp_path, yaml_edits=edits)
    schema = tmp_path / "northwind_pa.yaml"
    separator = "" if problem.startswith(":") else " "
    assert _refusal(toml) == f"{toml}: [northwind_pa] schema {schema}{separator}{problem}"


def test_a_file_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    missing, folder, binary, broken = (tmp_path / n for n in ("no.toml", "dir", "bin", "bad"))
    folder.mkdir()
    binary.write_bytes(b'[a]\ntitle = "\xff"\n')
    broken.write_text("[x]\nfoo bar\n", encoding="utf-8")
    assert _refusal(missing) == f"{missing}: cannot read: No such file or directory"
    assert _refusal(folder) == f"{folder}: cannot read: Is a directory"
    assert _refusal(binary) == f"{binary}: not UTF-8 text (byte offset 13)"
    assert _refusal(broken) == (
        f"{broken}: not valid TOML: Expected '=' after a key in a key/value pair "
        "(at line 2, column 5)"
    )


def test_a_user_source_named_like_a_built_in_one_is_refused(tmp_path: Path) -> None:
    toml = _copy_northwind(tmp_path, "[northwind_pa", "[cpt")
    assert _refusal(toml) == f"{toml}: [cpt] is already declared in {sources.builtin_file()}"


def test_a_source_declared_in_two_files_is_refused(tmp_path: Path) -> None:
    first, second = _copy_northwind(tmp_path / "a"), _copy_northwind(tmp_path / "b")
    assert _refusal(first, second) == f"{second}: [northwind_pa] is already declared in {first}"


def test_refusals_are_not_cached(tmp_path: Path) -> None:
    toml = _copy_northwind(tmp_path, 'family = "table"', 'family = "tabel"')
    _refusal(toml)
    _copy_northwind(tmp_path)
    use_sources([toml])
    assert source("northwind_pa") == dataclasses.replace(
        NORTHWIND_PA, schema=tmp_path / "northwind_pa.yaml", declared_in=toml
    )


# --- identity -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["cpt", "hcpcs", "northwind_pa", "acme_edits", "ncci_ptp", "mue", "pfs_rvu", "opps_addb"],
)
def test_a_declaration_round_trips_through_its_json(name: str) -> None:
    use_sources([NORTHWIND, ACME])
    cfg = source(name)
    text = declaration_json(cfg)
    back = config_from_json(text)
    # Schedules and fetch are operations, not the declaration's identity: not stored.
    assert back == dataclasses.replace(
        cfg, schema=Path(cfg.schema.name), declared_in=None, schedules=(), fetch=None
    )
    assert declaration_json(back) == text
    assert tracked_identity(back) == tracked_identity(cfg)


def test_the_json_names_no_path() -> None:
    use_sources([NORTHWIND])
    text = declaration_json(source("northwind_pa"))
    assert str(CASES) not in text
    assert '"schema":"northwind_pa.yaml"' in text
    assert text.startswith(
        '{"actions":null,"add_date":null,"attributes":["pa_required","category"]'
    )


def test_a_stored_declaration_with_unknown_fields_is_refused() -> None:
    text = declaration_json(source("cpt")).replace('{"actions"', '{"colour":1,"actions"')
    with pytest.raises(DeclarationError, match=r"^stored declaration has unknown fields: colour$"):
        config_from_json(text)


def test_tracked_identity_covers_what_must_not_change() -> None:
    use_sources([ACME])
    cfg = source("acme_edits")
    same = tracked_identity(cfg)
    assert same == {
        "key": ["column1", "column2"],
        "columns": [{"name": c.name, "header": c.header[0], "pad": c.pad} for c in cfg.columns],
        "descriptors": [],
        "attributes": ["modifier_indicator", "rationale"],
        "duplicate_keys": "refuse",
        "detail": None,
        "retirement": {
            "term_date": None,
            "retire": {
                "column": "deletion_date",
                "active": ["*"],
                "last_valid_day": False,
                "date_format": "%Y%m%d",
            },
        },
    }
    for unchanged in (
        {"title": "Acme Health PTP edits"},
        {"max_vanished": 0.5},
        {"code_sets": ("cpt",)},
        {"read": ReadOptions()},
        {"cadence": None},
        {"licence": ("AMA",)},
        {"version_check": "ncci_ptp"},
        {"release_values": ("prior_1996",)},
        {"source_action": "prior_1996"},
    ):
        assert tracked_identity(dataclasses.replace(cfg, **unchanged)) == same, unchanged
    columns = list(cfg.columns)
    columns[6] = Column("rationale", "Edit Rationale")
    retire = Retirement("deletion_date", ("*",), last_valid_day=True, date_format="%Y%m%d")
    for changed in (
        {"key": ("column1",)},
        {"columns": tuple(columns)},
        {"columns": cfg.columns[:6]},
        {"attributes": ("modifier_indicator",)},
        {"descriptors": ("rationale",)},
        {"retire": retire},
        {"duplicate_keys": "active_wins"},
        {"columns": (*cfg.columns[:6], dataclasses.replace(cfg.columns[6], map=(("x", "y"),)))},
        {"columns": (*cfg.columns[:6], dataclasses.replace(cfg.columns[6], nulls=(".",)))},
        {"columns": (*cfg.columns[:6], dataclasses.replace(cfg.columns[6], decimals=2))},
        {"columns": (*cfg.columns[:6], dataclasses.replace(cfg.columns[6], match="prefix"))},
        {"columns": (*cfg.columns[:6], Column("rationale", ("PTP Edit Rationale", "Rationale")))},
        {"columns": (*cfg.columns, Column("table", (), part=True))},
        {"columns": (*cfg.columns, Column("r", (), from_column="rationale", extract="(.)"))},
    ):
        assert tracked_identity(dataclasses.replace(cfg, **changed)) != same, changed


def test_the_sha256_covers_the_whole_declaration_and_the_schema(tmp_path: Path) -> None:
    use_sources([NORTHWIND])
    cfg = source("northwind_pa")
    copy = tmp_path / "northwind_pa.yaml"
    shutil.copy(cfg.schema, copy)
    moved = dataclasses.replace(cfg, schema=copy, declared_in=tmp_path / "x.toml")
    assert declaration_sha256(moved) == declaration_sha256(cfg)
    assert schema_sha256(moved) == schema_sha256(cfg)
    assert len(declaration_sha256(cfg)) == 64
    assert declaration_sha256(dataclasses.replace(cfg, title="Northwind PA")) != (
        declaration_sha256(cfg)
    )
    copy.write_text(copy.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    assert declaration_sha256(moved) != declaration_sha256(cfg)
    assert schema_sha256(moved) != schema_sha256(cfg)


POLICY = """[payer_edits]
title = "A payer's edits"
family = "table"
cadence = "quarterly"
licence = "AMA"
key = ["table", "code"]
schema = "northwind_pa.yaml"
descriptors = ["description"]
attributes = ["pa_required", "category", "indicator"]
term_date = "deletion"
active_values = ["*"]
duplicate_keys = "active_wins"
version_check = "mue"
release_values = ["factor"]
source_action = "marker"

[payer_edits.columns]
table = { part = true }
code = { header = ["Procedure Code", "HCPCS"], pad = 5, position = [1, 5] }
description = { header = "Description", match = "prefix", position = [6, 30] }
pa_required = { header = "PA", map = { "*" = "Y", "" = "N" }, position = [31, 31] }
category = { header = "Category", optional = true, nulls = ["."], position = [32, 40] }
indicator_text = { header = "Indicator", position = [41, 50] }
indicator = { from = "indicator_text", extract = '^([0-9])' }
factor = { header = "Factor", decimals = 4, position = [51, 58] }
deletion = { header = "Deletion", position = [59, 66] }
marker = { header = "Changed", position = [67, 67] }

[payer_edits.read]
members = "*.txt"
header = "HCPCS"
header_rows = 3
header_in = "last_row"
complete_lines = true
parts = { "*f1*" = "one", "*f2*" = "two" }
fixed_width = "*.txt"
skip_prefix = "HDR"
"""


def _policy(tmp_path: Path) -> Path:
    shutil.copy(NORTHWIND_PA.schema, tmp_path / "northwind_pa.yaml")
    toml = tmp_path / "payer_edits.toml"
    toml.write_text(POLICY, encoding="utf-8")
    return toml


def test_every_issue_8_option_is_parsed(tmp_path: Path) -> None:
    use_sources([_policy(tmp_path)])
    cfg = source("payer_edits")
    assert (cfg.licence, cfg.duplicate_keys, cfg.version_check) == (("AMA",), "active_wins", "mue")
    assert (cfg.release_values, cfg.source_action) == (("factor",), "marker")
    assert cfg.columns == (
        Column("table", (), part=True),
        Column("code", ("Procedure Code", "HCPCS"), pad=5, position=(1, 5)),
        Column("description", ("Description",), match="prefix", position=(6, 30)),
        Column("pa_required", ("PA",), map=(("*", "Y"), ("", "N")), position=(31, 31)),
        Column("category", ("Category",), optional=True, nulls=(".",), position=(32, 40)),
        Column("indicator_text", ("Indicator",), position=(41, 50)),
        Column("indicator", (), from_column="indicator_text", extract="^([0-9])"),
        Column("factor", ("Factor",), decimals=4, position=(51, 58)),
        Column("deletion", ("Deletion",), position=(59, 66)),
        Column("marker", ("Changed",), position=(67, 67)),
    )
    assert cfg.read == ReadOptions(
        members="*.txt",
        header="HCPCS",
        header_rows=3,
        header_in="last_row",
        complete_lines=True,
        parts=(("*f1*", "one"), ("*f2*", "two")),
        fixed_width="*.txt",
        skip_prefix="HDR",
    )
    back = config_from_json(declaration_json(cfg))
    assert back == dataclasses.replace(cfg, schema=Path(cfg.schema.name), declared_in=None)
    assert declaration_json(back) == declaration_json(cfg)
    assert tracked_identity(back) == tracked_identity(cfg)
    assert tracked_identity(cfg)["columns"][6] == {
        "name": "indicator",
        "header": [],
        "pad": None,
        "from_column": "indicator_text",
        "extract": "^([0-9])",
    }


def test_a_declaration_stored_before_issue_8_still_loads() -> None:
    """Stored JSON without the new fields (columns with a header string): the defaults."""
    use_sources([ACME])
    text = declaration_json(source("acme_edits"))
    old = json.loads(text)
    for name in ("licence", "release_values", "duplicate_keys", "version_check"):
        del old[name]
    old["columns"] = [{"name": c["name"], "header": c["header"][0], "pad": c["pad"]}
                      for c in old["columns"]]  # fmt: skip
    old["read"] = {k: old["read"][k] for k in ("sheet", "header", "header_rows", "members")}
    back = config_from_json(json.dumps(old))
    assert back == config_from_json(text)
    assert tracked_identity(back) == tracked_identity(source("acme_edits"))


# --- the command line ---------------------------------------------------------------------------


def test_every_command_takes_sources_files() -> None:
    parser = build_parser()
    extra = ["--sources", "a.toml", "--sources", "b.toml"]
    for argv in (
        ["refresh", "cpt", "release", "--version", "2026"],
        ["diff", "cpt", "2025", "2026"],
        ["samples", "out", "--years", "2026"],
    ):
        assert parser.parse_args(argv + extra).sources == [Path("a.toml"), Path("b.toml")]
        assert parser.parse_args(argv).sources is None


def test_main_reads_the_named_sources_files(tmp_path: Path) -> None:
    argv = ["samples", str(tmp_path / "out"), "--years", "2024", "--sources", str(NORTHWIND)]
    assert main(argv) == 0
    assert sources.user_files() == (NORTHWIND,)
    assert source("northwind_pa") == NORTHWIND_PA
    assert main(["samples", str(tmp_path / "out2"), "--years", "2024"]) == 0
    assert sources.user_files() == ()
