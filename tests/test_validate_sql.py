"""The pandera → DuckDB translation (codecatalog.validate_sql): parity with pandera itself, the
declarations it refuses, the declared key and the cap on listed failures."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd
import pandera.extensions as extensions
import pandera.pandas as pa
import pytest

from codecatalog.checks import re2_pattern
from codecatalog.errors import DeclarationError, Failure
from codecatalog.validate import check_frame, load_schema
from codecatalog.validate_sql import (
    MORE_FAILURES,
    quote,
    translate,
    validate_table,
)

CASES = Path(__file__).parent / "cases" / "validate_sql"
EVERY_CHECK = CASES / "every_check.yaml"
NUMERIC = ("amount", "units", "version")  # every_check.yaml's number columns
FILE = "northwind.zip!pa_list.csv"
Row = dict[str, str | None]

# Built-in schemas that fit a text table (cpt_release.yaml holds counts: refused below).
TEXT_SCHEMAS = (
    "cpt_clinician.yaml",
    "cpt_consumer.yaml",
    "cpt_deleted.yaml",
    "cpt_history.yaml",
    "cpt_longult.yaml",
    "cpt_medu.yaml",
    "cpt_shortu.yaml",
    "cpt_pla.yaml",
    "hcpcs_records.yaml",
    "hcpcs_transactions.yaml",
)


# --- helpers -------------------------------------------------------------------------------------


def _probe_rows(columns: Sequence[str], numeric: Sequence[str] = ()) -> list[Row]:
    """Rows mixing good and bad values (values.json) in every column, some rows repeated."""
    values = json.loads((CASES / "values.json").read_text(encoding="utf-8"))
    numbers = ["1.0", "0.0", "100.0", "100.5", "-0.5", "50.5", "5.0", "2.0", "9.99", "1e+20", None]
    rows = []
    for i in range(2 * len(values)):
        row: Row = {}
        for j, name in enumerate(columns):
            pool = numbers if name in numeric else values
            row[name] = pool[(i * 5 + j * 11) % len(pool)]
        rows.append(row)
    return rows + rows[:3] + rows[40:41]


def _csv_rows(path: Path) -> list[Row]:
    """A fixture CSV's rows; a blank cell is None (the table reader's NULL)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            {k: v if v != "" else None for k, v in row.items()} for row in csv.DictReader(handle)
        ]


def _frame(
    rows: list[Row], schema: pa.DataFrameSchema, numeric: Sequence[str] = ()
) -> pd.DataFrame:
    """The rows as pandera sees them from a reader: text columns of pandas' str dtype (object
    where the schema says object), number columns as floats, lines from 2 (below a header)."""
    data = {}
    for name in rows[0]:
        values = [row[name] for row in rows]
        if name in numeric:
            data[name] = pd.Series([None if v is None else float(v) for v in values], dtype=float)
        elif str(schema.columns[name].dtype) == "object":
            data[name] = pd.Series(values, dtype=object)
        else:
            data[name] = pd.Series(values, dtype="str")
    frame = pd.DataFrame(data)
    frame["line"] = range(2, 2 + len(rows))
    return frame


def _table(
    con: duckdb.DuckDBPyConnection, rows: list[Row], file: str = FILE, name: str = "catalog"
) -> None:
    """The rows as the table reader leaves them: VARCHAR columns plus _file and _line."""
    columns = list(rows[0])
    exists = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name])
    if exists.fetchone() == (0,):
        typed = ", ".join(f"{quote(c)} VARCHAR" for c in columns)
        con.execute(f"CREATE TABLE {name} ({typed}, _file VARCHAR, _line BIGINT)")
    marks = ", ".join("?" * (len(columns) + 2))
    con.executemany(
        f"INSERT INTO {name} VALUES ({marks})",
        [[*row.values(), file, 2 + i] for i, row in enumerate(rows)],
    )


def _parity(
    schema: pa.DataFrameSchema, rows: list[Row], numeric: Sequence[str] = ()
) -> tuple[list[Failure], list[Failure]]:
    """Both ways on the same rows; assert the same (errors, warnings) and return them."""
    expected = check_frame(_frame(rows, schema, numeric), schema, FILE)
    con = duckdb.connect()
    _table(con, rows)
    translation = translate(schema, "test", list(rows[0]))
    got = validate_table(con, "catalog", translation, key=(), limit=10**6)
    assert got[0] == expected[0]
    assert got[1] == expected[1]
    return got


def _checks(failures: list[Failure]) -> set[str]:
    return {failure.check for failure in failures}


# --- parity --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TEXT_SCHEMAS)
def test_built_in_schemas_report_what_pandera_reports(name: str) -> None:
    schema = load_schema(name)
    columns = [c for c in schema.columns if c != "record_length"]  # hcpcs: not a table column
    errors, _ = _parity(schema, _probe_rows(columns))
    assert "not_nullable" in _checks(errors)
    assert len(errors) > 50


def test_every_check_fixture_reports_what_pandera_reports() -> None:
    schema = load_schema(EVERY_CHECK)
    errors, warnings = _parity(schema, _csv_rows(CASES / "every_check.csv"), NUMERIC)
    assert _checks(errors) == {
        "code_shape(pattern=\\d{5}|\\d{4}[FTUAM]|[A-V]\\d{4})",
        "str_matches('^[A-Z0-9]{5}$')",
        "isin(['0', '1', '9'])",
        "notin(['X', 'Z'])",
        "yyyymmdd",
        "str_matches('^(\\*|\\d{8})$')",
        "str_length(2, 30)",
        "no_outer_space",
        "str_contains('\\w\\s\\w')",
        "str_startswith('L-')",
        "str_endswith('x')",
        "in_range(A, F)",
        "not_equal_to(C)",
        "one letter",
        "in_range(0, 100)",
        "greater_than_or_equal_to(1)",
        "less_than(10)",
        "not_equal_to(5)",
        "equal_to(2)",
        "greater_than(0)",
        "not_nullable",
        "field_uniqueness",
        "multiple_fields_uniqueness",
    }
    assert _checks(warnings) == {
        "yyyymmdd(allow_pre=True)",
        "str_length(None, 12)",
        "less_than_or_equal_to(50.5)",
    }
    assert Failure(FILE, 3, "code", "multiple_fields_uniqueness", "12345") in errors
    assert Failure(FILE, 3, "partner", "multiple_fields_uniqueness", "A0001") in errors
    assert Failure(FILE, 9, "label", "field_uniqueness", "L-1x") in errors
    assert Failure(FILE, 4, "effective", "yyyymmdd", "20240230") in errors
    assert Failure(FILE, 5, "effective", "yyyymmdd", "2024011") in errors  # 7 digits
    assert Failure(FILE, 15, "code", "not_nullable", "") in errors


def test_every_check_schema_on_probe_rows_reports_what_pandera_reports() -> None:
    schema = load_schema(EVERY_CHECK)
    errors, warnings = _parity(schema, _probe_rows(list(schema.columns), NUMERIC), NUMERIC)
    assert len(errors) > 200 and warnings


def test_a_schema_object_a_path_and_a_name_give_the_same_failures(tmp_path: Path) -> None:
    rows = _probe_rows(list(load_schema("cpt_medu.yaml").columns))
    copy = tmp_path / "medu.yaml"
    copy.write_text((CASES.parents[2] / "schemas" / "cpt_medu.yaml").read_text(encoding="utf-8"))
    frame = _frame(rows, load_schema("cpt_medu.yaml"))
    by_name = check_frame(frame, "cpt_medu.yaml", FILE)
    assert check_frame(frame, copy, FILE) == by_name
    assert check_frame(frame, load_schema(copy), FILE) == by_name
    assert by_name[0] and by_name[1]


PATTERNS = (
    r"^\d{7}$", r"[\d-]+", r"a{,3}\Z", r"[]\d]", r"[^]a]\d", r"\\d", r"\w+\s", r"\S+",
    r"[\s,]+", r"\W", r"x{2,}", r"[^\d]", r"\D\w", r"(?i)ab+", r"^(\d{7})?$", r"a$|b",
    r"\d{5}|\d{4}[FTUAM]", r"^[A-Z][A-Z ]*$", r"^\d{4}-\d{2}-\d{2}(T.*)?$", r"Pre-\d{4}",
)  # fmt: skip


@pytest.mark.parametrize("pattern", PATTERNS)
def test_rewritten_patterns_mean_in_re2_what_they_mean_in_python(pattern: str) -> None:
    texts = [v for v in json.loads((CASES / "values.json").read_text(encoding="utf-8")) if v]
    texts += ["a\n", "aaa", "ab\nx", "AB", "\u0663\u0664", "x\x0by", "b", "b\n", "a", "_"]
    con = duckdb.connect()
    got = con.execute(
        "SELECT regexp_matches(s, ?), regexp_matches(s, ?), regexp_full_match(s, ?) "
        "FROM unnest(?) WITH ORDINALITY AS t(s, n) ORDER BY n",
        [
            "^(?:" + re2_pattern(pattern) + ")",
            re2_pattern(pattern),
            re2_pattern(pattern, full=True),
            texts,
        ],
    ).fetchall()
    expected = [
        (bool(re.match(pattern, s)), bool(re.search(pattern, s)), bool(re.fullmatch(pattern, s)))
        for s in texts
    ]
    assert got == expected


# --- what only the table knows -------------------------------------------------------------------


def test_number_checks_fail_text_that_is_not_a_number() -> None:
    # pandera cannot compare a text column with a number (one TypeError for the column); the
    # translation compares the number the text spells, and text that spells none fails.
    schema = pa.DataFrameSchema(
        {"n": pa.Column(str, [pa.Check.in_range(0, 10), pa.Check.not_equal_to(3)], nullable=True)}
    )
    con = duckdb.connect()
    _table(con, [{"n": v} for v in ["1", "10.0", "x", "nan", "inf", None, " 2", "3", "3.0", "1e1"]])
    errors, warnings = validate_table(con, "catalog", translate(schema, "test"), key=())
    assert errors == [
        Failure(FILE, 4, "n", "in_range(0, 10)", "x"),
        Failure(FILE, 5, "n", "in_range(0, 10)", "nan"),
        Failure(FILE, 6, "n", "in_range(0, 10)", "inf"),
        Failure(FILE, 9, "n", "not_equal_to(3)", "3"),
        Failure(FILE, 10, "n", "not_equal_to(3)", "3.0"),
    ]
    assert warnings == []


def test_the_key_is_unique_checked_even_when_the_schema_does_not_say_so() -> None:
    schema = pa.DataFrameSchema({"a": pa.Column(str, nullable=True), "b": pa.Column(str)})
    rows: list[Row] = [
        {"a": "A0021", "b": "x"},
        {"a": "A0021", "b": "y"},
        {"a": None, "b": "y"},
        {"a": "A0021", "b": "x"},
        {"a": None, "b": "y"},
    ]
    con = duckdb.connect()
    _table(con, rows)
    translation = translate(schema, "test")
    errors, _ = validate_table(con, "catalog", translation, key=["a", "b"])
    check = "multiple_fields_uniqueness"
    assert errors == [
        Failure(FILE, 2, "a", check, "A0021"),
        Failure(FILE, 2, "b", check, "x"),
        Failure(FILE, 4, "a", check, ""),  # a NULL key part is reported too, as ''
        Failure(FILE, 4, "b", check, "y"),
        Failure(FILE, 5, "a", check, "A0021"),
        Failure(FILE, 5, "b", check, "x"),
        Failure(FILE, 6, "a", check, ""),
        Failure(FILE, 6, "b", check, "y"),
    ]
    errors, _ = validate_table(con, "catalog", translation, key=["a"])
    assert [(f.line, f.check, f.value) for f in errors] == [
        (2, "field_uniqueness", "A0021"),
        (3, "field_uniqueness", "A0021"),
        (4, "field_uniqueness", ""),
        (5, "field_uniqueness", "A0021"),
        (6, "field_uniqueness", ""),
    ]


def test_a_key_duplicated_across_the_files_of_a_release_is_reported_in_both() -> None:
    schema = pa.DataFrameSchema({"code": pa.Column(str, unique=True), "note": pa.Column(str)})
    con = duckdb.connect()
    _table(con, [{"code": "A0001", "note": "x"}, {"code": "A0002", "note": "y"}], "r.zip!b.csv")
    _table(con, [{"code": "A0002", "note": "z"}], "r.zip!a.csv")
    errors, _ = validate_table(con, "catalog", translate(schema, "test"), key=["code"])
    assert errors == [
        Failure("r.zip!a.csv", 2, "code", "field_uniqueness", "A0002"),
        Failure("r.zip!b.csv", 3, "code", "field_uniqueness", "A0002"),
    ]


def test_more_than_the_limit_lists_the_first_and_counts_the_rest() -> None:
    schema = load_schema(EVERY_CHECK)  # column checks, warnings, two uniqueness sets, NULLs
    rows = _probe_rows(list(schema.columns), NUMERIC)
    con = duckdb.connect()
    _table(con, rows)
    translation = translate(schema, "test")
    key = ("label", "grade")  # not declared: a third set, NULL parts included
    everything = validate_table(con, "catalog", translation, key, limit=10**6)
    assert len(everything[0]) > 1000 and len(everything[1]) > 20
    assert any(
        f.check == "multiple_fields_uniqueness" and f.column == "label" for f in everything[0]
    )
    for limit in (1, 7, 20, 1000):
        for listed, full in zip(
            validate_table(con, "catalog", translation, key, limit=limit), everything, strict=True
        ):
            if len(full) <= limit:
                assert listed == full
                continue
            more = Failure(
                full[limit - 1].file, None, "", f"{len(full) - limit} {MORE_FAILURES}", ""
            )
            assert listed == [*full[:limit], more]
    assert validate_table(con, "catalog", translation, key)[0][:1000] == everything[0][:1000]


def test_every_uniqueness_set_is_reported_where_pandera_stops_at_the_first() -> None:
    schema = pa.DataFrameSchema({"a": pa.Column(str), "b": pa.Column(str)}, unique=[["a"], ["b"]])
    con = duckdb.connect()
    _table(con, [{"a": "x", "b": "1"}, {"a": "x", "b": "2"}, {"a": "y", "b": "2"}])
    errors, _ = validate_table(con, "catalog", translate(schema, "test"), key=())
    assert [(f.line, f.column, f.value) for f in errors] == [
        (2, "a", "x"),
        (3, "a", "x"),
        (3, "b", "2"),
        (4, "b", "2"),
    ]
    assert {f.check for f in errors} == {"multiple_fields_uniqueness"}


def test_a_clean_table_has_no_failures_and_leaves_no_temporary_tables() -> None:
    schema = load_schema(EVERY_CHECK)
    rows = _csv_rows(CASES / "every_check.csv")[:1]
    rows[0].update(rationale="Code misuse", deleted="20251231")
    con = duckdb.connect()
    _table(con, rows)
    assert validate_table(con, "catalog", translate(schema, "test"), key=["code"]) == ([], [])
    assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone() == (0,)


def test_a_qualified_table_in_an_attached_database(tmp_path: Path) -> None:
    staging = duckdb.connect(str(tmp_path / "staging.duckdb"))
    _table(staging, [{"code": "1234X"}, {"code": "12345"}])
    staging.close()
    con = duckdb.connect()
    con.execute(f"ATTACH '{tmp_path / 'staging.duckdb'}' AS staging (READ_ONLY)")
    translation = translate(load_schema("cpt_longult.yaml").select_columns(["code"]), "test")
    errors, _ = validate_table(con, "staging.main.catalog", translation, key=["code"])
    assert errors == [Failure(FILE, 2, "code", "code_shape(pattern=\\d{5}|\\d{4}[FTUAM])", "1234X")]


# --- refusals ------------------------------------------------------------------------------------

WHERE = "northwind_pa (/decl/northwind_pa.toml)"


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "northwind_pa.yaml"
    path.write_text("schema_type: dataframe\ncolumns:\n" + text, encoding="utf-8")
    return path


if not hasattr(pa.Check, "no_sql_form"):

    @extensions.register_check_method()
    def no_sql_form(series: pd.Series) -> pd.Series:
        """A custom check without a SQL form (for the refusal test)."""
        return series.notna()


@pytest.mark.parametrize(
    ("column", "message"),
    [
        (
            pa.Column(str, pa.Check(lambda s: s.str.len() > 1)),
            "column 'code': check <lambda>: cannot be checked inside DuckDB: '<lambda>' is "
            "neither a built-in check with a SQL translation nor a codecatalog custom check with "
            "a SQL form",
        ),
        (
            pa.Column(str, pa.Check.no_sql_form()),
            "column 'code': check no_sql_form: cannot be checked inside DuckDB: 'no_sql_form' is "
            "neither a built-in check with a SQL translation nor a codecatalog custom check with "
            "a SQL form",
        ),
        (
            pa.Column(str, pa.Check.unique_values_eq(["A"])),
            "column 'code': check unique_values_eq(['A']): cannot be checked inside DuckDB: "
            "'unique_values_eq' is neither a built-in check with a SQL translation nor a "
            "codecatalog custom check with a SQL form",
        ),
        (
            pa.Column(str, pa.Check.isin(["A"], ignore_na=False)),
            "column 'code': check isin(['A']): option ignore_na: false (NULL passes every "
            "check; use nullable: false) cannot be checked inside DuckDB",
        ),
        (
            pa.Column(str, pa.Check.isin([3, 7])),
            "column 'code': check isin([3, 7]): values must be text (quote them in the YAML): "
            "a text column never equals [3, 7]",
        ),
        (
            pa.Column(str, pa.Check.str_matches(r"(?=A)\w")),
            "column 'code': check str_matches('(?=A)\\w'): cannot be checked inside DuckDB: "
            "Invalid Input Error: invalid perl operator: (?=",
        ),
        (
            pa.Column(str, pa.Check.str_matches(r"[\S]")),
            "column 'code': check str_matches('[\\S]'): \\S inside [...] has no RE2 equivalent",
        ),
        (
            pa.Column("int64", coerce=True),
            "column 'code': dtype int64 cannot be checked inside DuckDB, where every column is "
            "text: declare dtype str (number checks such as in_range compare the number the text "
            "spells)",
        ),
        (
            pa.Column(str, pa.Check.equal_to(True)),
            "column 'code': check equal_to(True): True is neither text nor a number",
        ),
        (
            pa.Column(str, report_duplicates="exclude_first", unique=True),
            "column 'code': report_duplicates: exclude_first cannot be checked inside DuckDB",
        ),
    ],
)
def test_a_check_that_cannot_run_in_duckdb_is_refused_naming_it(
    column: pa.Column, message: str
) -> None:
    with pytest.raises(DeclarationError) as refused:
        translate(pa.DataFrameSchema({"code": column}), WHERE)
    assert str(refused.value) == f"{WHERE}: {message}"


def test_schema_level_options_that_cannot_run_in_duckdb_are_refused() -> None:
    with pytest.raises(DeclarationError) as refused:
        translate(pa.DataFrameSchema({"code": pa.Column(str)}, strict=True), WHERE)
    assert str(refused.value) == f"{WHERE}: strict cannot be checked inside DuckDB"
    check = pa.Check(lambda frame: frame["code"].notna())
    with pytest.raises(DeclarationError) as refused:
        translate(pa.DataFrameSchema({"code": pa.Column(str)}, checks=[check]), WHERE)
    assert str(refused.value) == f"{WHERE}: dataframe-level checks cannot be checked inside DuckDB"


def test_the_built_in_release_schema_of_counts_is_refused() -> None:
    with pytest.raises(DeclarationError) as refused:
        translate(load_schema("cpt_release.yaml"), "cpt_release.yaml")
    assert str(refused.value) == (
        "cpt_release.yaml: column 'concept_ids': dtype int64 cannot be checked inside DuckDB, "
        "where every column is text: declare dtype str (number checks such as in_range compare "
        "the number the text spells)"
    )


def test_a_schema_column_the_declaration_does_not_read() -> None:
    schema = load_schema("hcpcs_records.yaml")
    columns = [c for c in schema.columns if c not in ("record_length", "cov")]
    with pytest.raises(DeclarationError) as refused:
        translate(schema, WHERE, columns)
    assert str(refused.value) == (
        f"{WHERE}: column 'cov': in the schema but not among the declared columns"
    )
    # record_length (required: false, dtype int64) is left out when not declared
    assert translate(schema, WHERE, [*columns, "cov"]).checks


def test_custom_check_arguments_pandera_would_ignore_are_refused(tmp_path: Path) -> None:
    schema = load_schema(
        _yaml(tmp_path, "  d:\n    dtype: str\n    yyyymmdd: {allow_blnk: true}\n")
    )
    with pytest.raises(DeclarationError) as refused:
        translate(schema, WHERE)
    assert str(refused.value) == (
        f"{WHERE}: column 'd': check yyyymmdd: unknown argument(s) allow_blnk for yyyymmdd"
    )


def test_built_in_check_arguments_pandera_would_pass_on_are_refused(tmp_path: Path) -> None:
    text = "  c:\n    dtype: str\n    isin: {allowed_values: ['A'], raise_warnings: true}\n"
    with pytest.raises(DeclarationError) as refused:
        translate(load_schema(_yaml(tmp_path, text)), WHERE)
    assert str(refused.value) == (
        f"{WHERE}: column 'c': check isin(['A']): unknown argument(s) raise_warnings for isin"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "  code:\n    dtype: str\n    isinn: ['A']\n",
            "column 'code': unknown key(s) isinn",
        ),
        (
            "  code:\n    dtype: str\n    isin: ['A']\n    checks:\n"
            "    - options: {check_name: str_length}\n      min_value: 1\n",
            "column 'code': isin beside a `checks:` list would be ignored by pandera; move them "
            "into the list",
        ),
        (
            "  code:\n    dtype: str\n    checks:\n"
            "    - options: {check_name: str_length, raise_warnings: true}\n      min_value: 1\n",
            "column 'code': check options: unknown key(s) raise_warnings",
        ),
        (
            "  code:\n    dtype: str\nuniqe: [code]\n",
            "unknown key(s) uniqe",
        ),
    ],
)
def test_yaml_keys_pandera_would_silently_ignore_are_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _yaml(tmp_path, text)
    with pytest.raises(DeclarationError) as refused:
        load_schema(path)
    assert str(refused.value) == f"{path}: {message}"
