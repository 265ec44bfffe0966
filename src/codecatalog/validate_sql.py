"""Validate a big text table inside DuckDB with the checks its pandera schema declares.

pandera stays the one place a schema is declared: `translate` turns a DataFrameSchema into SQL once,
when the declaration is read, and refuses (DeclarationError naming the declaration, the column and
the check) anything it cannot say in SQL — never a silent skip. `validate_table` then checks every
column in one scan of the table plus one GROUP BY per uniqueness set, and reports Failures whose
check and value text are exactly what `validate.check_frame` reports for pandera on the same rows.

What translates (the table holds text, NULL for a blank cell; NULL passes every check but
`not_nullable`, as pandera's `ignore_na` does):
  - column `nullable: false` → `not_nullable`; column `unique: true` → `field_uniqueness`;
    schema `unique: [a, b]` (or a list of such lists) → `multiple_fields_uniqueness`, one failure
    per column of every duplicated row, NULL values left out as pandera leaves them out;
  - dtype absent, `str`/`string` or `object` (any other dtype is refused: the table is text);
    `required` (the reader reports a missing column; absent columns are skipped); `coerce`;
  - built-in checks `str_matches` (Python `re.match`: anchored at the start only), `str_contains`
    (`re.search`), `str_startswith`, `str_endswith`, `isin`, `notin` (text values only),
    `str_length`, and the comparisons `equal_to`, `not_equal_to`, `greater_than(_or_equal_to)`,
    `less_than(_or_equal_to)`, `in_range`: with text bounds they compare text (code-point order,
    as pandas does), with number bounds they compare `TRY_CAST(value AS DOUBLE)` and a value that
    is not a number (or is NaN) fails — pandera itself cannot compare a text column with a number
    (it reports one TypeError for the column), so the parity holds against a numeric column;
  - custom checks with a SQL form in `codecatalog.checks.SQL_FORMS`;
  - `raise_warning: true` → a warning, not an error; a custom `error` or `name` → that check text.
Refused: any other check (a lambda, a custom check without SQL form), check options `ignore_na:
false`, `groupby`/`groups`, `n_failure_cases`; column `regex`, `default`, `parsers`,
`drop_invalid_rows`, `report_duplicates` other than `all`; dataframe-level checks, parsers, index,
`strict`, `ordered`, `add_missing_columns`, `drop_invalid_rows`.

Regular expressions: DuckDB uses RE2, pandera Python's `re`. Patterns are rewritten by
`checks.re2_pattern` so that `\\d`, `\\s`, `\\w` (and negations), `\\Z`, `{,n}` and a final `$`
mean what they mean in Python; `\\b`/`\\B` remain ASCII word boundaries in RE2, and patterns RE2
cannot compile (lookaround, backreferences, possessive or atomic groups, verbose mode) are refused
when translated.

Divergences on purpose: the declared key (`validate_table`'s `key`) is always checked for
uniqueness, and a duplicated key reports every row and every key column, NULL parts included (as
''), where pandera would drop NULL failure values (and so a duplicated all-blank key); pandera
stops at the first duplicated set of a list of `unique` sets, every set is reported here; and at
most `MAX_LISTED` failures of each kind are listed, a closing Failure counting the rest.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import duckdb
import pandera.dtypes
import pandera.pandas as pa
from pandera.api.function_dispatch import Dispatcher

from codecatalog import checks as custom_checks
from codecatalog.checks import SQL_FORMS, re2_pattern
from codecatalog.errors import DeclarationError
from codecatalog.sql import literal, quote
from codecatalog.sql_checks import (
    FIELD_UNIQUENESS,
    MAX_LISTED,
    MORE_FAILURES,
    MULTIPLE_FIELDS_UNIQUENESS,
    NOT_NULLABLE,
    ColumnCheck,
    Translation,
    UniqueCheck,
    validate_table,
)

__all__ = [
    "FIELD_UNIQUENESS", "MAX_LISTED", "MORE_FAILURES", "MULTIPLE_FIELDS_UNIQUENESS",
    "NOT_NULLABLE", "ColumnCheck", "Translation", "UniqueCheck", "translate", "validate_table",
]  # fmt: skip

_RESERVED = ("_file", "_line")


def translate(
    schema: pa.DataFrameSchema, where: str, columns: Sequence[str] | None = None
) -> Translation:
    """`schema` as SQL checks; DeclarationError (naming `where`, the column and the check) for
    anything that cannot run inside DuckDB with pandera's meaning.

    `where` names the declaration in messages, e.g. "northwind_pa (/path/northwind_pa.toml)".
    `columns`, when given, are the declared columns the table will hold: a required schema
    column outside them is refused, an optional one (`required: false`) is left out.
    """
    _refuse_schema_options(schema, where)
    found: list[ColumnCheck] = []
    unique: list[UniqueCheck] = []
    for name, column in schema.columns.items():
        at = f"{where}: column {name!r}"
        if not isinstance(name, str) or name in _RESERVED:
            raise DeclarationError(f"{at}: not a usable column name")
        if columns is not None and name not in columns:
            if column.required:
                raise DeclarationError(f"{at}: in the schema but not among the declared columns")
            continue
        _refuse_column_options(column, at)
        quoted = quote(name)
        if not column.nullable:
            found.append(ColumnCheck(name, NOT_NULLABLE, f"{quoted} IS NULL"))
        if column.unique:
            unique.append(UniqueCheck((name,), FIELD_UNIQUENESS))
        for check in column.checks:
            text = check_text(check)
            passes = _passes(check, quoted, f"{at}: check {text}")
            fails = f"{quoted} IS NOT NULL AND NOT coalesce({passes}, false)"
            found.append(ColumnCheck(name, text, fails, bool(check.raise_warning)))
    for names in _unique_sets(schema.unique):
        unique.append(UniqueCheck(names, MULTIPLE_FIELDS_UNIQUENESS))
    _compile(found, where)
    return Translation(where, _merged(found), tuple(dict.fromkeys(unique)))


def check_text(check: pa.Check) -> str:
    """The check's name as pandera's failure cases give it (and so `check_frame`)."""
    if check.error is not None:
        return str(check.error)
    return str(check.name) if check.name is not None else str(check)


# --- translation --------------------------------------------------------------------------------


def _refuse_schema_options(schema: pa.DataFrameSchema, where: str) -> None:
    refused = {
        "dataframe-level checks": bool(schema.checks),
        "parsers": bool(getattr(schema, "parsers", None)),
        "an index": schema.index is not None,
        "strict": bool(schema.strict),
        "ordered": bool(schema.ordered),
        "add_missing_columns": bool(schema.add_missing_columns),
        "drop_invalid_rows": bool(schema.drop_invalid_rows),
        f"report_duplicates: {schema.report_duplicates}": schema.report_duplicates != "all",
        f"dtype {schema.dtype}": not _is_text(schema.dtype),
    }
    for what, present in refused.items():
        if present:
            raise DeclarationError(f"{where}: {what} cannot be checked inside DuckDB")


def _refuse_column_options(column: pa.Column, at: str) -> None:
    if not _is_text(column.dtype):
        raise DeclarationError(
            f"{at}: dtype {column.dtype} cannot be checked inside DuckDB, where every column is "
            "text: declare dtype str (number checks such as in_range compare the number the "
            "text spells)"
        )
    refused = {
        "regex": bool(column.regex),
        "default": column.default is not None,
        "parsers": bool(getattr(column, "parsers", None)),
        "drop_invalid_rows": bool(column.drop_invalid_rows),
        f"report_duplicates: {column.report_duplicates}": column.report_duplicates != "all",
    }
    for what, present in refused.items():
        if present:
            raise DeclarationError(f"{at}: {what} cannot be checked inside DuckDB")


def _is_text(dtype: Any) -> bool:
    return dtype is None or pandera.dtypes.is_string(dtype) or str(dtype) == "object"


def _passes(check: pa.Check, column: str, at: str) -> str:
    """SQL TRUE when a non-null value of `column` passes `check`."""
    options = {
        "ignore_na: false (NULL passes every check; use nullable: false)": not check.ignore_na,
        "groupby": check.groupby is not None or check.groups is not None,
        "n_failure_cases": check.n_failure_cases is not None,
    }
    for what, present in options.items():
        if present:
            raise DeclarationError(f"{at}: option {what} cannot be checked inside DuckDB")
    function = check._check_fn
    if isinstance(function, Dispatcher) and function.__name__ in _BUILTIN:
        arguments = dict(check._check_kwargs)
        extra = ", ".join(sorted(set(arguments) - _ARGUMENTS.get(function.__name__, set())))
        if extra:  # pandera passes them on to the check function, which fails on them
            raise DeclarationError(f"{at}: unknown argument(s) {extra} for {function.__name__}")
        return _BUILTIN[function.__name__](column, arguments, at)
    wrapped = getattr(getattr(function, "func", None), "__wrapped__", None)
    name = getattr(wrapped, "__name__", "")
    if (
        isinstance(function, partial)
        and name in SQL_FORMS
        and wrapped is getattr(custom_checks, name, None)
    ):
        if check._check_kwargs:  # pandera would drop them without a word
            extra = ", ".join(map(str, check._check_kwargs))
            raise DeclarationError(f"{at}: unknown argument(s) {extra} for {name}")
        arguments = dict(function.keywords)
        if "pattern" in arguments:
            _python_pattern(arguments["pattern"], at)
        try:
            return SQL_FORMS[name](column, arguments)
        except ValueError as err:
            raise DeclarationError(f"{at}: {err}") from err
    kind = name or getattr(function, "__name__", type(function).__name__)
    raise DeclarationError(
        f"{at}: cannot be checked inside DuckDB: {kind!r} is neither a built-in check with a SQL "
        "translation nor a codecatalog custom check with a SQL form"
    )


def _regex(function: str, prefix: str) -> Callable[[str, dict[str, Any], str], str]:
    def form(column: str, args: dict[str, Any], at: str) -> str:
        pattern = _python_pattern(args["pattern"], at)
        try:
            rewritten = re2_pattern(pattern)
        except ValueError as err:
            raise DeclarationError(f"{at}: {err}") from err
        return f"{function}({column}, {literal(prefix.format(rewritten))})"

    return form


def _python_pattern(pattern: Any, at: str) -> str:
    if isinstance(pattern, re.Pattern):
        if pattern.flags & ~re.UNICODE:
            raise DeclarationError(f"{at}: regex flags cannot be checked inside DuckDB")
        pattern = pattern.pattern
    if not isinstance(pattern, str):
        raise DeclarationError(f"{at}: the pattern must be text")
    try:
        re.compile(pattern)
    except re.error as err:
        raise DeclarationError(f"{at}: not a regular expression: {err}") from err
    return pattern


def _text_values(values: Any, at: str) -> str:
    items = sorted(values, key=repr)
    if not all(isinstance(item, str) for item in items):
        raise DeclarationError(
            f"{at}: values must be text (quote them in the YAML): a text column never equals "
            f"{[item for item in items if not isinstance(item, str)]!r}"
        )
    return ", ".join(literal(item) for item in items)


def _isin(column: str, args: dict[str, Any], at: str) -> str:
    values = _text_values(args["allowed_values"], at)
    return f"{column} IN ({values})" if values else "false"


def _notin(column: str, args: dict[str, Any], at: str) -> str:
    values = _text_values(args["forbidden_values"], at)
    return f"{column} NOT IN ({values})" if values else "true"


def _affix(function: str) -> Callable[[str, dict[str, Any], str], str]:
    def form(column: str, args: dict[str, Any], at: str) -> str:
        if not isinstance(args["string"], str):
            raise DeclarationError(f"{at}: the string must be text")
        return f"{function}({column}, {literal(args['string'])})"

    return form


def _str_length(column: str, args: dict[str, Any], at: str) -> str:
    bounds = {name: args.get(name) for name in ("exact_value", "min_value", "max_value")}
    for value in bounds.values():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise DeclarationError(f"{at}: lengths must be whole numbers")
    if bounds["exact_value"] is not None:
        return f"length({column}) = {bounds['exact_value']}"
    tests = (
        [f"length({column}) >= {bounds['min_value']}"] if bounds["min_value"] is not None else []
    )
    if bounds["max_value"] is not None:
        tests.append(f"length({column}) <= {bounds['max_value']}")
    return " AND ".join(tests)


def _operand(column: str, value: Any, at: str) -> tuple[str, str, str]:
    """(kind, SQL value of the column, SQL literal): text compares text, a number the number."""
    if isinstance(value, str):
        return "text", column, literal(value)
    if isinstance(value, bool):
        raise DeclarationError(f"{at}: {value!r} is neither text nor a number")
    if isinstance(value, numbers.Real):
        if math.isnan(float(value)):
            raise DeclarationError(f"{at}: NaN is not a bound")
        return "number", f"TRY_CAST({column} AS DOUBLE)", f"CAST('{float(value)!r}' AS DOUBLE)"
    raise DeclarationError(f"{at}: {value!r} is neither text nor a number")


def _comparison(operator: str, argument: str) -> Callable[[str, dict[str, Any], str], str]:
    def form(column: str, args: dict[str, Any], at: str) -> str:
        kind, value, literal = _operand(column, args[argument], at)
        if kind == "text":
            return f"{value} {operator} {literal}"
        if operator == "<>":  # NaN differs from every number, as in Python
            return f"coalesce({value} <> {literal}, true)"
        return f"(NOT isnan({value}) AND {value} {operator} {literal})"

    return form


def _in_range(column: str, args: dict[str, Any], at: str) -> str:
    low_kind, value, low = _operand(column, args["min_value"], at)
    high_kind, _, high = _operand(column, args["max_value"], at)
    if low_kind != high_kind:
        raise DeclarationError(f"{at}: bounds must both be text or both be numbers")
    above = ">=" if args.get("include_min", True) else ">"
    below = "<=" if args.get("include_max", True) else "<"
    test = f"{value} {above} {low} AND {value} {below} {high}"
    return test if low_kind == "text" else f"(NOT isnan({value}) AND {test})"


_BUILTIN: dict[str, Callable[[str, dict[str, Any], str], str]] = {
    "str_matches": _regex("regexp_matches", "^(?:{})"),
    "str_contains": _regex("regexp_matches", "{}"),
    "str_startswith": _affix("starts_with"),
    "str_endswith": _affix("suffix"),
    "isin": _isin,
    "notin": _notin,
    "str_length": _str_length,
    "equal_to": _comparison("=", "value"),
    "not_equal_to": _comparison("<>", "value"),
    "greater_than": _comparison(">", "min_value"),
    "greater_than_or_equal_to": _comparison(">=", "min_value"),
    "less_than": _comparison("<", "max_value"),
    "less_than_or_equal_to": _comparison("<=", "max_value"),
    "in_range": _in_range,
}


_ARGUMENTS = {
    "str_matches": {"pattern"},
    "str_contains": {"pattern"},
    "str_startswith": {"string"},
    "str_endswith": {"string"},
    "isin": {"allowed_values"},
    "notin": {"forbidden_values"},
    "str_length": {"min_value", "max_value", "exact_value"},
    "equal_to": {"value"},
    "not_equal_to": {"value"},
    "greater_than": {"min_value"},
    "greater_than_or_equal_to": {"min_value"},
    "less_than": {"max_value"},
    "less_than_or_equal_to": {"max_value"},
    "in_range": {"min_value", "max_value", "include_min", "include_max"},
}


def _unique_sets(unique: Any) -> list[tuple[str, ...]]:
    """pandera's `unique`: None, one list of columns, or a list of such lists."""
    if not unique:
        return []
    if isinstance(unique, str):
        return [(unique,)]
    if all(isinstance(name, str) for name in unique):
        return [tuple(unique)]
    return [tuple(names) for names in unique]


def _compile(found: list[ColumnCheck], where: str) -> None:
    """Bind every check's SQL once against a text row: RE2 refusing a pattern, or a SQL form
    that does not bind, is a DeclarationError now rather than a failed refresh later."""
    con = duckdb.connect()
    try:
        for check in found:
            try:
                con.execute(f"SELECT {check.fails} FROM (SELECT 'x' AS {quote(check.column)})")
            except duckdb.Error as err:
                message = str(err).splitlines()[0]
                raise DeclarationError(
                    f"{where}: column {check.column!r}: check {check.check}: cannot be checked "
                    f"inside DuckDB: {message}"
                ) from err
    finally:
        con.close()


def _merged(found: list[ColumnCheck]) -> tuple[ColumnCheck, ...]:
    """One check per (column, check text, warning): two checks with one text fail a row when
    either does, and report it once (check_frame's failures are distinct)."""
    merged: dict[tuple[str, str, bool], list[str]] = {}
    for check in found:
        merged.setdefault((check.column, check.check, check.warning), []).append(check.fails)
    return tuple(
        ColumnCheck(column, text, " OR ".join(f"({fails})" for fails in dict.fromkeys(tests)), warn)
        for (column, text, warn), tests in merged.items()
    )
