"""Run the YAML schemas in `schemas/` lazily; turn pandera's failure cases into Failures."""

from __future__ import annotations

import copy
from functools import cache
from importlib.resources import files
from typing import Any

import pandas as pd
import pandera.pandas as pa

import codecatalog.checks  # noqa: F401  (registers the custom checks the YAML schemas name)
from codecatalog.errors import Failure


@cache
def load_schema(name: str) -> pa.DataFrameSchema:
    """A schema from the installed `schemas/` folder, e.g. `cpt_longult.yaml`."""
    text = files("codecatalog.schemas").joinpath(name).read_text(encoding="utf-8")
    return pa.DataFrameSchema.from_yaml(text)


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


def failure_cases(frame: pd.DataFrame, schema_name: str) -> pd.DataFrame:
    """pandera's failure cases (column, check, failure_case, index) plus a `warning` flag."""
    schema, warning_checks = _blocking_copy(load_schema(schema_name))
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
    frame: pd.DataFrame, schema_name: str, file: str
) -> tuple[list[Failure], list[Failure]]:
    """Validate one file's frame; return (errors, warnings), each naming file, line, column, value.

    `frame` must carry a `line` column with the physical line (or row) of each record. A value
    measured on another line of a record spanning several (the longest of an HCPCS key's records)
    names it in a column of the same name plus `_line` (`record_length` → `record_length_line`).
    """
    errors: list[Failure] = []
    warnings: list[Failure] = []
    cases = failure_cases(frame, schema_name)
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


def sort_failures(failures: list[Failure]) -> list[Failure]:
    """Distinct failures in file, line, column order."""
    return sorted(set(failures), key=lambda f: (f.file, f.line or 0, f.column, f.check, f.value))


def as_text(value: Any) -> str:
    """A failure value as text ('' for missing)."""
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)
