"""Source declarations: users' TOML files, validation when read, and a declaration's identity."""

from __future__ import annotations

import dataclasses
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
    assert sorted(sources.sources()) == ["cpt", "hcpcs"]
    cpt, hcpcs = source("cpt"), source("hcpcs")
    assert (cpt.key, cpt.family, cpt.declared_in) == (("code",), "ama_cpt", None)
    assert cpt.schema == sources.builtin_schemas() / "cpt_release.yaml"
    assert cpt.schema.is_file()
    assert cpt.code_shape == r"\d{4}[0-9FTUAM]"
    assert cpt.source_action == "history"
    assert cpt.detail == sources.Detail(
        "clinician_descriptor", "clinician_descriptor_id", "clinician_descriptor"
    )
    assert (hcpcs.key, hcpcs.code_shape) == (("code",), "[A-V]\\d{4}")
    assert (hcpcs.term_date, hcpcs.retire, hcpcs.add_date) == ("term_dt", None, "add_dt")
    assert hcpcs.successors == ("xref1", "xref2", "xref3", "xref4", "xref5")
    assert hcpcs.source_action == "action_cd"
    assert hcpcs.actions is not None and hcpcs.actions["S"] == ("short_descriptor",)
    assert sources.builtin_file().name == "sources.toml"


def test_the_issue_declaration_loads_from_a_file_named_like_sources() -> None:
    use_sources([NORTHWIND])
    assert source("northwind_pa") == NORTHWIND_PA
    assert sorted(sources.sources()) == ["cpt", "hcpcs", "northwind_pa"]


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
    assert str(caught.value) == "unknown source 'northwind'; declared: cpt, hcpcs, northwind_pa"


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
        "code set 'hcpcx' is not declared (declared: cpt, hcpcs, northwind_pa)",
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
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_a_bad_declaration_is_refused_in_one_line(case: str, tmp_path: Path) -> None:
    edits, problem = REFUSED[case]
    toml = _copy_northwind(tmp_path, *edits)
    entry = "" if problem.startswith("[") else "[northwind_pa] "
    assert _refusal(toml) == f"{toml}: {entry}{problem}"


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


@pytest.mark.parametrize("name", ["cpt", "hcpcs", "northwind_pa", "acme_edits"])
def test_a_declaration_round_trips_through_its_json(name: str) -> None:
    use_sources([NORTHWIND, ACME])
    cfg = source(name)
    text = declaration_json(cfg)
    back = config_from_json(text)
    assert back == dataclasses.replace(cfg, schema=Path(cfg.schema.name), declared_in=None)
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
        "columns": [{"name": c.name, "header": c.header, "pad": c.pad} for c in cfg.columns],
        "descriptors": [],
        "attributes": ["modifier_indicator", "rationale"],
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
