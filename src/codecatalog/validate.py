"""Run pandera YAML schemas lazily; turn pandera's failure cases into Failures."""

from __future__ import annotations

import copy
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa
import yaml

import codecatalog.checks  # noqa: F401  (registers the custom checks the YAML schemas name)
from codecatalog.errors import (
    DeclarationError,
    Failure,
    sort_failures,
)

# A schema: a file name in the installed `schemas/` folder, a YAML file path, or a schema object.
SchemaRef = str | Path | pa.DataFrameSchema

# Keys pandera reads (pandera.io.pandas_io); it silently ignores any other key, so a misspelt
# check, a flat check beside a `checks:` list or a misspelt check option would be skipped.
_SCHEMA_KEYS = frozenset(
    {
        "schema_type", "version", "api", "dataframe_library", "columns", "index", "multiindex",
        "checks", "dtype", "coerce", "strict", "name", "ordered", "unique", "report_duplicates",
        "unique_column_names", "add_missing_columns", "title", "description", "metadata",
        "drop_invalid_rows",
    }
)  # fmt: skip
_COLUMN_KEYS = frozenset(
    {
        "dtype", "description", "title", "checks", "name", "nullable", "unique", "coerce",
        "required", "regex", "default", "report_duplicates", "drop_invalid_rows",
    }
)  # fmt: skip
_CHECK_OPTIONS = frozenset(
    {
        "check_name",
        "ignore_na",
        "raise_warning",
        "n_failure_cases",
        "groupby",
        "groups",
        "error",
        "name",
    }
)


def load_schema(schema: SchemaRef) -> pa.DataFrameSchema:
    """A pandera schema: a name in the installed `schemas/` folder (e.g. `cpt_longult.yaml`), a
    YAML file (a Path), or a schema object (returned as it is).

    A YAML schema is refused with DeclarationError naming it when it cannot be read or names a
    key pandera would silently ignore.
    """
    if isinstance(schema, pa.DataFrameSchema):
        return schema
    if isinstance(schema, Path):
        try:
            text = schema.read_text(encoding="utf-8")
        except OSError as err:
            raise DeclarationError(f"{schema}: cannot read the schema: {err.strerror}") from err
        return _from_yaml(text, str(schema))
    return _builtin_schema(schema)


@cache
def _builtin_schema(name: str) -> pa.DataFrameSchema:
    text = files("codecatalog.schemas").joinpath(name).read_text(encoding="utf-8")
    return _from_yaml(text, name)


@cache
def _from_yaml(text: str, where: str) -> pa.DataFrameSchema:
    try:
        _check_keys(yaml.safe_load(text), where)
        return pa.DataFrameSchema.from_yaml(text)
    except DeclarationError:
        raise
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise DeclarationError(f"{where}: does not parse: {at}{err.problem}") from err
    except Exception as err:  # yaml, pandera and check-argument errors alike
        text = " ".join(str(err).split())
        raise DeclarationError(f"{where}: not a usable pandera schema: {text}") from err


def _check_keys(document: Any, where: str) -> None:
    """DeclarationError for a key pandera would ignore without a word."""
    if not isinstance(document, dict):
        raise DeclarationError(f"{where}: a pandera schema must be a mapping")
    _refuse_unknown(document, _SCHEMA_KEYS, where)
    columns = document.get("columns") or {}
    for name, column in columns.items() if isinstance(columns, dict) else ():
        at = f"{where}: column {name!r}"
        column = {} if column is None else column
        if not isinstance(column, dict):
            raise DeclarationError(f"{at}: must be a mapping of pandera keys")
        for flag in ("nullable", "unique", "coerce", "required", "regex"):
            if flag in column and not isinstance(column[flag], bool):
                raise DeclarationError(f"{at}: {flag} must be true or false")
        flat = [key for key in column if key not in _COLUMN_KEYS]
        if "checks" in column and flat:
            raise DeclarationError(
                f"{at}: {', '.join(flat)} beside a `checks:` list would be ignored by pandera; "
                "move them into the list"
            )
        unknown = [key for key in flat if not _is_check(key)]
        if unknown:
            raise DeclarationError(f"{at}: unknown key(s) {', '.join(map(str, unknown))}")
        checks = column.get("checks") or []
        entries = checks if isinstance(checks, list) else [*checks.values()]
        for key in flat:
            entries.append(column[key] if isinstance(column[key], dict) else {})
        for entry in entries:
            options = entry.get("options") or {} if isinstance(entry, dict) else {}
            _refuse_unknown(options, _CHECK_OPTIONS, f"{at}: check options")


def _refuse_unknown(mapping: dict[str, Any], known: frozenset[str], where: str) -> None:
    unknown = [str(key) for key in mapping if key not in known]
    if unknown:
        raise DeclarationError(f"{where}: unknown key(s) {', '.join(unknown)}")


def _is_check(name: Any) -> bool:
    try:
        return isinstance(name, str) and callable(getattr(pa.Check, name))
    except AttributeError:
        return False


def _blocking_copy(schema: pa.DataFrameSchema) -> tuple[pa.DataFrameSchema, set[tuple[str, int]]]:
    """The schema with warning checks made blocking, and which (column, check number) they were.

    pandera reports warning checks only as free text; running them as errors gives the same
    structured failure cases, which are then sorted into errors and warnings.
    """
    schema = copy.deepcopy(schema)
    warning_checks = set()
    for name, column in schema.columns.items():
        for number, check in enumerate(column.checks):
            if check.raise_warning:
                check.raise_warning = False
                warning_checks.add((name, number))
    return schema, warning_checks


def failure_cases(frame: pd.DataFrame, schema: SchemaRef) -> pd.DataFrame:
    """pandera's failure cases (column, check, failure_case, index) plus a `warning` flag."""
    schema, warning_checks = _blocking_copy(load_schema(schema))
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases: pd.DataFrame = err.failure_cases.copy()
    else:
        cases = pd.DataFrame(columns=["column", "check", "check_number", "failure_case", "index"])
    cases["warning"] = [
        (column, number) in warning_checks
        for column, number in zip(cases["column"], cases["check_number"], strict=True)
    ]
    return cases


def check_frame(
    frame: pd.DataFrame, schema: SchemaRef, file: str
) -> tuple[list[Failure], list[Failure]]:
    """Validate one file's frame; return (errors, warnings), each naming file, line, column, value.

    `frame` must carry a `line` column with the physical line (or row) of each record. A value
    measured on another line of a record spanning several (the longest of an HCPCS key's records)
    names it in a column of the same name plus `_line` (`record_length` → `record_length_line`).
    """
    errors: list[Failure] = []
    warnings: list[Failure] = []
    cases = failure_cases(frame, schema)
    for name, check, value, index, warning in zip(
        cases["column"],
        cases["check"],
        cases["failure_case"],
        cases["index"],
        cases["warning"],
        strict=True,
    ):
        column = name if isinstance(name, str) else str(value)
        line_column = f"{column}_line" if f"{column}_line" in frame.columns else "line"
        line = None if pd.isna(index) else int(frame[line_column].loc[index])
        failure = Failure(file, line, column, str(check), as_text(value))
        (warnings if warning else errors).append(failure)
    return sort_failures(errors), sort_failures(warnings)


def as_text(value: Any) -> str:
    """A failure value as text ('' for missing)."""
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)
