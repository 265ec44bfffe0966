"""`report.html`: the change report people read, beside `report.md`.

One self-contained page rendered from `templates/report.html.j2` (Jinja2): a headline summary,
Plotly charts (plotly.js inlined once, no network at view time), searchable tables of added,
retired, reactivated and revised keys with the differing words of old and new values marked
(`<del>`/`<ins>`), and the reconciliation and findings sections where the source has them.

Every table embeds at most `MAX_ROWS` rows (fewer when the page would grow past `SIZE_LIMIT`:
plotly.js alone is about 4.8 MB) and says how many it left out (`changes.csv` has them all).
Descriptors of a source that declares a licence are left out unless
`codecatalog.fhir.licensed_allowed` holds (`$CODECATALOG_LICENSED`).
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import jinja2
from markupsafe import Markup, escape

from codecatalog.diff.changes import key_sql, store_changes
from codecatalog.intervals import rows_at
from codecatalog.report import CHANGE_TYPES, TableReconciliation, change_counts
from codecatalog.sources import SourceConfig
from codecatalog.sql import first, literal, quote, table_exists
from codecatalog.warehouse import find_release, loaded_releases

if TYPE_CHECKING:
    import pandas as pd

MAX_ROWS = 5000  # rows embedded per table; the rest are counted and left to changes.csv
SIZE_LIMIT = 9_500_000  # bytes: tables embed fewer rows (not under MIN_ROWS) to stay below this
MIN_ROWS = 100
TEMPLATE = "report.html.j2"
COLOURS = {
    "added": "#2ca02c",
    "retired": "#d62728",
    "reactivated": "#9467bd",
    "descriptor_revised": "#ff7f0e",
    "descriptor_editorial": "#bcbd22",
    "attribute_changed": "#1f77b4",
}
FINDING_HEADERS = (
    "code", "finding", "code set", "code set version", "retired on", "successors", "reason", "rows",
)  # fmt: skip
_STEP_TABLE = "_report_html_step"  # temporary table of a recomputed step (unpublished versions)
WRAPPED = ("descriptor", "old", "new", "problem", "reason", "successors", "computed")  # wrap
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")  # words, spaces, single punctuation


@dataclass
class HtmlTable:
    """One searchable table of the page: cells are escaped text or Markup (word diffs)."""

    id: str
    title: str
    columns: list[str]
    rows: list[list[Any]]
    total: int
    intro: str = ""
    csv: str = "changes.csv"

    @property
    def left_out(self) -> int:
        return max(self.total - len(self.rows), 0)

    @property
    def body(self) -> Markup:
        """The rows as `<tr>` elements, cells escaped (Markup kept); text columns wrap (class
        `t`). Built here, not in the template: a page holds tens of thousands of cells."""
        opens = ['<td class="t">' if c in WRAPPED else "<td>" for c in self.columns]
        return Markup(
            "\n".join(
                "<tr>"
                + "".join(f"{o}{escape(cell)}</td>" for o, cell in zip(opens, row, strict=True))
                + "</tr>"
                for row in self.rows
            )
        )


@dataclass
class Chart:
    id: str
    title: str
    html: Markup


def render_report_html(
    con: duckdb.DuckDBPyConnection,
    cfg: SourceConfig,
    version: str,
    changes_table: str,
    previous: str | None,
    *,
    published_root: Path | None = None,
    reconciliation: pd.DataFrame | None = None,
    table_reconciliation: TableReconciliation | None = None,
    warnings: Sequence[str] = (),
    notes: Sequence[str] = (),
    include_licensed: bool | None = None,
    max_rows: int = MAX_ROWS,
) -> str:
    """The HTML change report of loaded version `version` of `cfg`.

    `changes_table` holds its changes against `previous` (the change-table columns, as in
    `changes.csv`; empty when `previous` is None). `published_root` (`warehouse/published`) is
    where earlier versions' `changes.parquet` give the counts across versions cheaply; a loaded
    version without one is recomputed against its loaded predecessor. `include_licensed`
    defaults to `codecatalog.fhir.licensed_allowed(cfg)`.
    """
    from codecatalog.fhir import licensed_allowed

    if include_licensed is None:
        include_licensed = licensed_allowed(cfg)
    with_text = include_licensed or not cfg.licence
    release = find_release(con, cfg.name, version)
    counts = change_counts(con, changes_table)
    before = find_release(con, cfg.name, previous) if previous else None
    new_ord = str(release.release_order)
    old_ord = str(before.release_order) if before else None
    descriptor = _display_descriptor(cfg) if with_text else None

    charts: list[Chart] = []
    first_chart = True
    for dimension, label, expr in _dimensions(cfg):
        if previous is None:
            break
        grouped = _grouped_counts(con, cfg, changes_table, expr, new_ord, old_ord)
        if grouped:
            charts.append(
                _by_group_chart(f"chart-{dimension}", f"Changes by {label}", grouped, first_chart)
            )
            first_chart = False
    steps = version_counts(con, cfg, published_root, version, changes_table)
    if any(n for _, c in steps for n in c.values()):
        charts.append(_history_chart(steps, first_chart))
    template = _environment().from_string(
        files("codecatalog").joinpath("templates", TEMPLATE).read_text(encoding="utf-8")
    )
    context: dict[str, Any] = {
        "title": cfg.title,
        "codeset": cfg.name,
        "version": version,
        "effective_date": release.effective_date,
        "previous": previous,
        "previous_date": before.effective_date if before else None,
        "keys": cfg.key,
        "row_count": release.row_count,
        "counts": counts,
        "total": sum(counts.values()),
        "colours": COLOURS,
        "licence_note": _licence_note(cfg, with_text),
        "charts": charts,
        "warnings": list(warnings),
        "notes": list(notes),
    }
    while True:  # fewer rows per table until the page fits in SIZE_LIMIT
        tables: list[HtmlTable] = []
        if previous is not None:
            tables = _change_tables(
                con, cfg, changes_table, counts, new_ord, old_ord, descriptor, with_text, max_rows
            )
        html = template.render(
            **context,
            tables=tables,
            reconciliation=_reconciliation(
                cfg, previous, version, reconciliation, table_reconciliation, max_rows
            ),
            findings=_findings(con, cfg, version, max_rows),
            max_rows=max_rows,
        )
        size = len(html.encode("utf-8"))
        if size <= SIZE_LIMIT or max_rows <= MIN_ROWS:
            return html
        charts_size = sum(len(c.html.encode("utf-8")) for c in charts)
        share = (SIZE_LIMIT - charts_size) / max(size - charts_size, 1)
        max_rows = max(MIN_ROWS, int(max_rows * min(share, 1.0) * 0.9))


# --- the page's pieces --------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.filters["thousands"] = lambda n: f"{int(n):,}"
    return env


def _display_descriptor(cfg: SourceConfig) -> str | None:
    """The descriptor shown beside added, retired and reactivated keys (the longest one)."""
    for name in ("long_descriptor", "description", "short_descriptor"):
        if name in cfg.descriptors:
            return name
    return cfg.descriptors[0] if cfg.descriptors else None


def _licence_note(cfg: SourceConfig, with_text: bool) -> str:
    if not cfg.licence:
        return "The source declares no licensed text: descriptors are shown in full."
    held = ", ".join(cfg.licence)
    if with_text:
        return (
            f"This source carries licensed text ({held}); it is shown because "
            "CODECATALOG_LICENSED names every licence the source declares."
        )
    return (
        f"This source carries licensed text ({held}): descriptors are left out of this page "
        "(codes and change types only). Set CODECATALOG_LICENSED to include them."
    )


def _dimensions(cfg: SourceConfig) -> list[tuple[str, str, str]]:
    """(id, label, SQL over the change row `c` and catalog rows `n`/`o`) the changes are
    grouped by in the first charts: CPT category and section, HCPCS first letter and kind, a
    table source's field."""
    columns = {c.name for c in cfg.columns} | set(cfg.tracked)
    if cfg.family == "ama_cpt":
        return [
            ("category", "change type × category", "coalesce(n.category, o.category)"),
            ("section", "change type × section", "coalesce(n.section, o.section)"),
        ]
    if cfg.family == "hcpcs":
        found = [("letter", "change type × first letter of the code", "upper(left(c.key, 1))")]
        if "kind" in columns:
            found.append(("kind", "change type × kind", "coalesce(n.kind, o.kind)"))
        return found
    return [
        ("field", "change type × field", "coalesce(split_part(c.field, ':', 1), '(whole row)')")
    ]


def _keyed(cfg: SourceConfig, order: str | None, columns: Sequence[str]) -> str:
    """SQL: the catalog rows at `order` as (`_key`, columns...) (no rows when order is None)."""
    chosen = ", ".join(quote(c) for c in columns)
    table = rows_at(f"{cfg.name}_catalog", order or "NULL")
    return f"(SELECT {key_sql(cfg.key)} AS _key{', ' if chosen else ''}{chosen} FROM {table})"


def _grouped_counts(
    con: duckdb.DuckDBPyConnection,
    cfg: SourceConfig,
    table: str,
    expr: str,
    new_ord: str,
    old_ord: str | None,
) -> dict[str, dict[str, int]]:
    """Change rows per group (`expr`) and change type."""
    if "n." in expr:
        column = expr.split("n.", 1)[1].split(",", 1)[0]
        joins = (
            f"LEFT JOIN {_keyed(cfg, new_ord, [column])} n ON n._key = c.key "
            f"LEFT JOIN {_keyed(cfg, old_ord, [column])} o ON o._key = c.key"
        )
    else:
        joins = ""
    rows = con.execute(
        f"SELECT coalesce({expr}, '(none)') AS g, c.change_type, count(*) "
        f"FROM {table} c {joins} GROUP BY ALL ORDER BY g"
    ).fetchall()
    found: dict[str, dict[str, int]] = {}
    for group, kind, n in rows:
        found.setdefault(str(group), {})[kind] = int(n)
    return found


def version_counts(
    con: duckdb.DuckDBPyConnection,
    cfg: SourceConfig,
    published_root: Path | None,
    version: str,
    changes_table: str,
) -> list[tuple[str, dict[str, int]]]:
    """Change counts of every loaded version's step (the first version has none): `version`'s
    from `changes_table`, a published one's from its `changes.parquet`, any other's recomputed
    against its loaded predecessor."""
    found: list[tuple[str, dict[str, int]]] = []
    releases = loaded_releases(con, cfg.name)
    for index, release in enumerate(releases):
        if release.version == version:
            found.append((version, change_counts(con, changes_table)))
            continue
        if index == 0:
            found.append((release.version, dict.fromkeys(CHANGE_TYPES, 0)))
            continue
        parquet = (
            Path(published_root) / cfg.name / release.version / "changes.parquet"
            if published_root is not None
            else None
        )
        if parquet is not None and parquet.is_file():
            rows = con.execute(
                "SELECT change_type, count(*) FROM read_parquet(?) GROUP BY ALL", [str(parquet)]
            ).fetchall()
            got = {str(k): int(n) for k, n in rows}
            found.append((release.version, {k: got.get(k, 0) for k in CHANGE_TYPES}))
            continue
        store_changes(con, cfg, releases[index - 1].version, release.version, _STEP_TABLE)
        found.append((release.version, change_counts(con, _STEP_TABLE)))
        con.execute(f"DROP TABLE IF EXISTS {_STEP_TABLE}")
    return found


# --- charts -------------------------------------------------------------------------------------


def _figure_html(figure: Any, div_id: str, first_chart: bool) -> Markup:
    html = figure.to_html(
        full_html=False,
        include_plotlyjs=bool(first_chart),
        div_id=div_id,
        config={"displaylogo": False, "displayModeBar": False, "responsive": True},
        default_width="100%",
    )
    return Markup(html)


def _by_group_chart(
    div_id: str, title: str, grouped: dict[str, dict[str, int]], first_chart: bool
) -> Chart:
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    groups = sorted(grouped, key=lambda g: sum(grouped[g].values()))
    figure = go.Figure()
    for kind in CHANGE_TYPES:
        values = [grouped[g].get(kind, 0) for g in groups]
        if any(values):
            figure.add_trace(
                go.Bar(name=kind, y=groups, x=values, orientation="h", marker_color=COLOURS[kind])
            )
    figure.update_layout(
        barmode="stack",
        height=max(240, 70 + 24 * len(groups)),
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
        legend={"orientation": "h", "y": -0.15, "traceorder": "normal"},
        xaxis_title="change rows",
        yaxis={"automargin": True},
        template="plotly_white",
    )
    return Chart(div_id, title, _figure_html(figure, div_id, first_chart))


def _history_chart(steps: list[tuple[str, dict[str, int]]], first_chart: bool) -> Chart:
    import plotly.graph_objects as go

    versions = [v for v, _ in steps]
    figure = go.Figure()
    for kind in CHANGE_TYPES:
        values = [counts.get(kind, 0) for _, counts in steps]
        if any(values):
            figure.add_trace(go.Bar(name=kind, x=versions, y=values, marker_color=COLOURS[kind]))
    figure.update_layout(
        barmode="stack",
        height=300,
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
        legend={"orientation": "h", "y": -0.2, "traceorder": "normal"},
        xaxis={"type": "category", "title": "version (changes from the version before)"},
        yaxis_title="change rows",
        template="plotly_white",
    )
    return Chart(
        "chart-versions",
        "Changes across loaded versions",
        _figure_html(figure, "chart-versions", first_chart),
    )


# --- tables -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)  # policy files repeat the same few value changes
def word_diff(old: str | None, new: str | None) -> tuple[Markup, Markup]:
    """`old` with removed words in `<del>` and `new` with added words in `<ins>`, escaped."""
    a, b = _TOKENS.findall(old or ""), _TOKENS.findall(new or "")
    if len(a) <= 1 and len(b) <= 1 and a != b:  # a code, a flag, a date: nothing to align
        return (
            Markup(f"<del>{escape(old)}</del>" if a else ""),
            Markup(f"<ins>{escape(new)}</ins>" if b else ""),
        )
    left: list[str] = []
    right: list[str] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        removed, added = "".join(a[i1:i2]), "".join(b[j1:j2])
        if op == "equal":
            left.append(str(escape(removed)))
            right.append(str(escape(added)))
            continue
        if removed:
            left.append(f"<del>{escape(removed)}</del>")
        if added:
            right.append(f"<ins>{escape(added)}</ins>")
    return Markup("".join(left)), Markup("".join(right))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _change_tables(
    con: duckdb.DuckDBPyConnection,
    cfg: SourceConfig,
    table: str,
    counts: dict[str, int],
    new_ord: str,
    old_ord: str | None,
    descriptor: str | None,
    with_text: bool,
    max_rows: int,
) -> list[HtmlTable]:
    found = []
    text_cols = [descriptor] if descriptor else []
    for kind, side, title in (
        ("added", new_ord, "Added"),
        ("retired", old_ord, "Retired"),
        ("reactivated", new_ord, "Reactivated"),
    ):
        columns = ["key", *(["descriptor"] if descriptor else [])]
        join = ""
        text = ", NULL"
        if descriptor:
            join = f"LEFT JOIN {_keyed(cfg, side, text_cols)} d ON d._key = c.key"
            text = f", d.{quote(descriptor)}"
        extra = ", c.new_value" if kind == "retired" else ""
        rows = con.execute(
            f"SELECT c.key{text}{extra}, c.effective_date, c.source_action FROM {table} c {join} "
            f"WHERE c.change_type = {literal(kind)} ORDER BY c.key LIMIT {max_rows}"
        ).fetchall()
        if kind == "retired":
            columns.append("successors")
        columns += ["effective", "source action"]
        cells = []
        for row in rows:
            values = [_text(row[0])]
            if descriptor:
                values.append(_text(row[1]))
            values += [_text(v) for v in row[2:]]
            cells.append(values)
        found.append(HtmlTable(kind, f"{title} ({counts[kind]:,})", columns, cells, counts[kind]))

    descriptor_fields = [f"{d}" for d in cfg.descriptors]
    detail = f"OR c.field LIKE '{cfg.detail.name}:%'" if cfg.detail else ""
    described = ", ".join(literal(d) for d in descriptor_fields) or "NULL"
    revised_total = counts["descriptor_revised"] + counts["descriptor_editorial"]
    if revised_total:
        rows = con.execute(
            f"SELECT c.key, c.field, c.change_type, c.old_value, c.new_value FROM {table} c "
            "WHERE c.change_type IN ('descriptor_revised', 'descriptor_editorial') "
            f"AND (c.field IN ({described}) {detail}) ORDER BY c.key, c.field LIMIT {max_rows}"
        ).fetchall()
        columns = ["key", "field", "change"]
        if with_text:
            columns += ["old", "new"]
        cells = []
        for key, fld, kind, old, new in rows:
            line: list[Any] = [_text(key), _text(fld), kind.removeprefix("descriptor_")]
            if with_text:
                line += list(word_diff(old, new))
            cells.append(line)
        intro = "" if with_text else "Descriptors are licensed text: old and new values left out."
        found.append(
            HtmlTable(
                "revised",
                f"Revised descriptors ({revised_total:,})",
                columns,
                cells,
                revised_total,
                intro,
            )
        )
    if counts["attribute_changed"]:
        rows = con.execute(
            f"SELECT c.key, c.field, c.old_value, c.new_value FROM {table} c "
            f"WHERE c.change_type = 'attribute_changed' ORDER BY c.key, c.field LIMIT {max_rows}"
        ).fetchall()
        cells = [[_text(k), _text(f), *word_diff(o, n)] for k, f, o, n in rows]
        found.append(
            HtmlTable(
                "attributes",
                f"Changed attributes ({counts['attribute_changed']:,})",
                ["key", "field", "old", "new"],
                cells,
                counts["attribute_changed"],
            )
        )
    return found


def _reconciliation(
    cfg: SourceConfig,
    previous: str | None,
    version: str,
    reconciliation: pd.DataFrame | None,
    table_reconciliation: TableReconciliation | None,
    max_rows: int,
) -> dict[str, Any] | None:
    """The reconciliation section: a sentence, counts per problem, a table (None: no section)."""
    if previous is None:
        return None
    columns = ["key", "computed", "source action", "problem"]
    if table_reconciliation is not None:
        total = sum(table_reconciliation.counts.values())
        if not total:
            agree = (
                "Nothing to reconcile: the changes agree with the source's own dates and "
                "change markers."
            )
            return {"sentence": agree, "counts": {}, "table": None}
        rows = [[_text(v) for v in row] for row in table_reconciliation.listed[:max_rows]]
        table = HtmlTable("reconciliation", "Reconciliation rows", columns, rows, total, csv="")
        return {
            "sentence": f"{total:,} rows disagree with the release's own actions "
            "(all of them in the warehouse table `reconciliations`).",
            "counts": dict(table_reconciliation.counts),
            "table": table,
        }
    if reconciliation is None and not cfg.source_action:
        return None
    if reconciliation is None:
        return {
            "sentence": f"Not applicable: {previous} is not the release right before {version}, "
            "and the release's own actions describe only that step.",
            "counts": {},
            "table": None,
        }
    if reconciliation.empty:
        return {
            "sentence": "The computed changes and the release's own actions agree, key by key.",
            "counts": {},
            "table": None,
        }
    rows = [
        [_text(r.key), _text(r.computed), _text(r.source_action), _text(r.problem)]
        for r in reconciliation.head(max_rows).itertuples()
    ]
    problems = reconciliation["problem"].astype(str).str.split(":").str[0].value_counts()
    return {
        "sentence": f"{len(reconciliation):,} keys disagree with the release's own actions.",
        "counts": {str(k): int(v) for k, v in problems.items()},
        "table": HtmlTable(
            "reconciliation", "Reconciliation rows", columns, rows, len(reconciliation), csv=""
        ),
    }


def _findings(
    con: duckdb.DuckDBPyConnection, cfg: SourceConfig, version: str, max_rows: int
) -> dict[str, Any] | None:
    """The findings section of a policy source: counts per finding and one row per code."""
    if not cfg.code_columns or not table_exists(con, "findings"):
        return None
    params = {"codeset": cfg.name, "version": version}
    where = "codeset = $codeset AND version = $version"
    counts = {
        str(k): int(n)
        for k, n in con.execute(
            f"SELECT finding, count(*) FROM findings WHERE {where} GROUP BY ALL ORDER BY 1",
            params,
        ).fetchall()
    }
    total_row = first(
        con.execute(
            "SELECT count(*) FROM (SELECT DISTINCT code, finding, code_set, reason "
            f"FROM findings WHERE {where})",
            params,
        )
    )
    total = int(total_row[0]) if total_row else 0
    rows = con.execute(
        f"""SELECT code, finding, code_set, code_set_version, retired_on, successors, reason,
                   count(*) AS n
            FROM findings WHERE {where} GROUP BY ALL
            ORDER BY finding, code, code_set NULLS FIRST LIMIT {max_rows}""",
        params,
    ).fetchall()
    table = HtmlTable(
        "findings",
        f"Findings by code ({total:,})",
        list(FINDING_HEADERS),
        [[_text(v) for v in row[:-1]] + [f"{row[-1]:,}"] for row in rows],
        total,
        csv="findings.csv",
    )
    return {"counts": counts, "table": table}
