"""report.html (issue 9 §5): the change report people read, checked on CPT 2025 → 2026.

Counts come from the generator's truth files (`samples/truth/`); the page is parsed with the
standard library's html.parser. The last test opens it in headless Chromium (skipped when no
`chromium` is on PATH) and checks that the charts rendered and that a search in the URL fragment
hides the rows that do not match.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from codecatalog.diff.changes import store_changes, store_table_reconciliation
from codecatalog.findings import compute_findings
from codecatalog.pipeline import diff_step, open_writer
from codecatalog.report import TableReconciliation
from codecatalog.report_html import MAX_ROWS, render_report_html, version_counts, word_diff
from codecatalog.sources import source

CHANGE_TYPES = (
    "added", "retired", "reactivated", "descriptor_revised", "descriptor_editorial",
    "attribute_changed",
)  # fmt: skip
TEN_MB = 10 * 1024 * 1024


@dataclass
class Row:
    cells: list[str]
    hidden: bool
    marked: dict[str, list[str]] = field(default_factory=dict)  # "del"/"ins" -> texts


class Page(HTMLParser):
    """What the tests read off the page: cards, tables, left-out sentences, scripts, links."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.cards: dict[str, str] = {}
        self.tables: dict[str, list[Row]] = {}
        self.left_out: dict[str, str] = {}
        self.left_out_links: dict[str, list[str]] = {}
        self.sources: list[str] = []  # script src, link href, img src
        self.scripts: list[int] = []  # lengths of inline scripts
        self.svg_classes: list[str] = []
        self.licence = ""
        self._card: str | None = None
        self._table: str | None = None
        self._row: Row | None = None
        self._cell: list[str] | None = None
        self._mark: str | None = None
        self._p: str | None = None
        self._script: list[str] | None = None
        self._in_licence = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "script":
            if a.get("src"):
                self.sources.append(a["src"])
            self._script = []
        if tag in ("link", "img", "iframe") and (a.get("href") or a.get("src")):
            self.sources.append(a.get("href") or a.get("src") or "")
        if tag == "svg" and "class" in a:
            self.svg_classes.append(a["class"])
        if "data-change-type" in a:
            self._card = a["data-change-type"]
        if tag == "table" and "searchable" in a.get("class", ""):
            self._table = a["id"]
            self.tables[self._table] = []
        if tag == "tr" and self._table is not None and self._row is None:
            self._row = Row([], "hidden" in a)
        if tag == "td" and self._row is not None:
            self._cell = []
        if tag in ("del", "ins") and self._row is not None:
            self._mark = tag
            self._row.marked.setdefault(tag, []).append("")
        if tag == "p" and "left-out" in a.get("class", ""):
            self._p = a["id"].removesuffix("-left-out")
            self.left_out[self._p] = ""
            self.left_out_links[self._p] = []
        if tag == "a" and self._p is not None:
            self.left_out_links[self._p].append(a.get("href", ""))
        if tag == "p" and a.get("id") == "licence":
            self._in_licence = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append(len("".join(self._script)))
            self._script = None
        if tag == "div" and self._card is not None:
            self._card = None
        if tag == "table" and self._row is None:
            self._table = None
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row.cells.append("".join(self._cell))
            self._cell = None
        if tag == "tr" and self._row is not None and self._table is not None:
            if self._row.cells:
                self.tables[self._table].append(self._row)
            self._row = None
        if tag in ("del", "ins"):
            self._mark = None
        if tag == "p":
            self._p = None
            self._in_licence = False

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)
        if self._card is not None and data.strip() and self._card not in self.cards:
            self.cards[self._card] = data.strip()
        if self._cell is not None:
            self._cell.append(data)
        if self._mark is not None and self._row is not None:
            self._row.marked[self._mark][-1] += data
        if self._p is not None:
            self.left_out[self._p] += data
        if self._in_licence:
            self.licence += data


def truth(samples: Path) -> list[dict[str, str]]:
    with open(samples / "truth" / "changes_2025_2026.csv", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def truth_counts(samples: Path) -> dict[str, int]:
    summary = json.loads((samples / "truth" / "summary.json").read_text(encoding="utf-8"))
    return {k: int(v) for k, v in summary["2025_2026"].items()}


@pytest.fixture
def render(loaded_warehouse: Path) -> Iterator:
    """`render(**options)`: the page of cpt 2026 against 2025, on the writer connection."""
    with open_writer(loaded_warehouse) as writer, writer.transaction():
        comparison = diff_step(writer.con, "cpt", "2026")

        def page(edit: str | None = None, **options: object) -> str:
            if edit:
                writer.con.execute(edit.format(table=comparison.table))
            return render_report_html(
                writer.con,
                source("cpt"),
                "2026",
                comparison.table,
                comparison.previous,
                published_root=loaded_warehouse / "published",
                reconciliation=comparison.reconciliation,
                **options,  # type: ignore[arg-type]
            )

        yield page


def test_counts_and_tables_equal_the_truth(render, samples: Path) -> None:
    html = render(include_licensed=True)
    page = Page(html)
    counts = truth_counts(samples)
    assert {k: int(v.replace(",", "")) for k, v in page.cards.items()} == counts
    rows = truth(samples)
    for kind in ("added", "retired", "reactivated"):
        keys = sorted(r["key"] for r in rows if r["change_type"] == kind)
        assert [r.cells[0] for r in page.tables[kind]] == keys
    revised = [r for r in rows if r["change_type"].startswith("descriptor_")]
    assert len(page.tables["revised"]) == len(revised)
    assert len(page.tables["attributes"]) == counts["attribute_changed"]
    assert not page.left_out  # nothing is over the cap here
    # the retired table names successors, dates and the release's own action
    assert all(r.cells[-1] == "DELETED" for r in page.tables["retired"])


def test_revised_descriptors_mark_the_differing_words(render, samples: Path) -> None:
    page = Page(render(include_licensed=True))
    expected = {
        (r["key"], r["field"]): (r["old_value"], r["new_value"])
        for r in truth(samples)
        if r["change_type"] == "descriptor_revised"
    }
    marked = 0
    for row in page.tables["revised"]:
        key, fld, change, old, new = row.cells
        if change != "revised":
            continue
        assert (old, new) == expected[(key, fld)]  # the cell's text is the whole value
        marked += bool(row.marked)
        for text in row.marked.get("del", []):
            assert text.strip() and text in old
        for text in row.marked.get("ins", []):
            assert text.strip() and text in new
    assert marked == len(expected)


def test_word_diff_escapes_and_marks() -> None:
    old, new = word_diff("Removal of <b> lesion & cyst", "Removal of <i> lesion & cyst, each")
    assert str(old) == "Removal of &lt;<del>b</del>&gt; lesion &amp; cyst"
    assert str(new) == "Removal of &lt;<ins>i</ins>&gt; lesion &amp; cyst<ins>, each</ins>"
    assert word_diff(None, "new") == ("", "<ins>new</ins>")


def test_text_is_escaped(render) -> None:
    html = render(
        "UPDATE {table} SET new_value = '<script>alert(1)</script> & \"x\"' "
        "WHERE change_type = 'attribute_changed'",
        include_licensed=True,
    )
    page = Page(html)
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    cells = [r.cells[3] for r in page.tables["attributes"]]
    assert cells and all(c == '<script>alert(1)</script> & "x"' for c in cells)


def test_tables_are_capped_and_say_what_was_left_out(render, samples: Path) -> None:
    assert MAX_ROWS == 5000
    page = Page(render(include_licensed=True, max_rows=50))
    counts = truth_counts(samples)
    assert len(page.tables["added"]) == 50
    assert f"{counts['added'] - 50:,} rows are left out" in page.left_out["added"]
    assert f"first 50 of {counts['added']:,} rows" in page.left_out["added"]
    assert page.left_out_links["added"] == ["changes.csv"]
    assert "reactivated" not in page.left_out  # 2 rows: under the cap


def test_licensed_descriptors_are_left_out(
    render, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CODECATALOG_LICENSED", raising=False)
    html = render()
    page = Page(html)
    assert "left out" in page.licence and "AMA" in page.licence
    assert all(len(r.cells) == 3 for r in page.tables["revised"])  # key, field, change
    assert all(len(r.cells) == 3 for r in page.tables["added"])  # key, effective, action
    descriptors = [
        r["new_value"] for r in truth(samples) if r["change_type"] == "descriptor_revised"
    ]
    assert not any(d in html for d in descriptors if len(d) > 20)
    monkeypatch.setenv("CODECATALOG_LICENSED", "ama")
    assert len(Page(render()).tables["revised"][0].cells) == 5


def test_self_contained_and_small(render) -> None:
    html = render(include_licensed=True)
    page = Page(html)
    assert len(html.encode("utf-8")) < TEN_MB
    assert not [s for s in page.sources if s.startswith(("http://", "https://", "//"))]
    big = [n for n in page.scripts if n > 1_000_000]
    assert len(big) == 1  # plotly.js inlined exactly once
    assert html.count('class="plotly-graph-div"') == 3  # category, section, versions


def test_counts_across_versions(loaded_warehouse: Path, samples: Path) -> None:
    summary = json.loads((samples / "truth" / "summary.json").read_text(encoding="utf-8"))
    with open_writer(loaded_warehouse) as writer, writer.transaction():
        comparison = diff_step(writer.con, "cpt", "2026")
        cfg = source("cpt")
        for root in (loaded_warehouse / "published", None):  # published steps, or recomputed
            steps = dict(version_counts(writer.con, cfg, root, "2026", comparison.table))
            assert steps["2024"] == dict.fromkeys(CHANGE_TYPES, 0)
            assert steps["2025"] == summary["2024_2025"]
            assert steps["2026"] == summary["2025_2026"]


def test_first_version_has_no_tables(loaded_warehouse: Path) -> None:
    with open_writer(loaded_warehouse) as writer, writer.transaction():
        comparison = diff_step(writer.con, "cpt", "2024")
        html = render_report_html(
            writer.con, source("cpt"), "2024", comparison.table, comparison.previous
        )
    page = Page(html)
    assert "first loaded version" in html
    assert not page.tables


CHROMIUM_FLAGS = [
    "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--virtual-time-budget=10000",
]  # fmt: skip


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None and os.environ.get("CODECATALOG_REQUIRE_CHROMIUM"):
        pytest.fail("chromium required (CODECATALOG_REQUIRE_CHROMIUM) but not on PATH")
    if found is None:
        pytest.skip("no `chromium` on PATH (Debian: apt-get install chromium; .ci/run installs it)")
    return found


def test_chromium_renders_charts_and_filters_by_fragment(render, tmp_path: Path) -> None:
    chromium()
    html = render(include_licensed=True)
    report = tmp_path / "report.html"
    report.write_text(html, encoding="utf-8")
    wanted = Page(html).tables["added"][3].cells[0]
    done = subprocess.run(
        [*CHROMIUM_FLAGS, "--dump-dom", f"{report.as_uri()}#q={wanted}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    dom = Page(done.stdout)
    assert sum("main-svg" in c for c in dom.svg_classes) >= 3  # the three charts drew
    rows = [r for table in dom.tables.values() for r in table]
    visible = [r for r in rows if not r.hidden]
    assert visible and all(any(wanted in c for c in r.cells) for r in visible)
    assert [r.cells[0] for r in visible if r in dom.tables["added"]] == [wanted]
    assert len(rows) - len(visible) > 500  # the others are hidden


def test_table_source_findings_and_hcpcs_charts(tmp_path: Path) -> None:
    """A policy source's page (charts by field, findings, reconciliation) and an HCPCS page
    (charts by first letter and kind, the transaction-report reconciliation)."""
    from test_findings import CASES, CODE_SETS, hcpcs_warehouse, load, policy

    wh = tmp_path / "wh"
    hcpcs_warehouse(
        wh, [("2017", CASES / "excerpt_2017_ANWEB.txt"), ("2018", CASES / "excerpt_2018_ANWEB.txt")]
    )
    schema = tmp_path / "any.yaml"
    schema.write_text("schema_type: dataframe\ncolumns: {}\n")
    cfg = policy(schema)
    with open_writer(wh) as writer, writer.transaction():
        con = writer.con
        load(con, cfg, "2018Q2", [("G0202", "office", None, None), ("A5513", "office", None, None)])
        load(
            con,
            cfg,
            "2018Q3",
            [
                ("G0202", "office", None, None),
                ("A9999", "home", None, None),
                ("A5513", "office", "<77067>", None),
            ],
        )
        compute_findings(con, cfg, "2018Q3", CODE_SETS)
        con.execute("SELECT 1").fetchall()  # publish_step reads results before rendering too
        store_changes(con, cfg, "2018Q2", "2018Q3", "_step")
        counts = store_table_reconciliation(con, cfg, "2018Q2", "2018Q3")
        listed = con.execute(
            "SELECT key, computed, source_action, problem FROM reconciliations "
            "WHERE codeset = 'payer_pa' ORDER BY key"
        ).fetchall()
        html = render_report_html(
            con,
            cfg,
            "2018Q3",
            "_step",
            "2018Q2",
            table_reconciliation=TableReconciliation(counts, listed),
        )
        hcpcs = diff_step(con, "hcpcs", "2018")
        hcpcs_html = render_report_html(
            con,
            source("hcpcs"),
            "2018",
            hcpcs.table,
            hcpcs.previous,
            reconciliation=hcpcs.reconciliation,
        )
    page = Page(html)
    assert [r.cells[0] for r in page.tables["added"]] == ["A9999|home"]
    assert [r.cells[:4] for r in page.tables["attributes"]] == [
        ["A5513|office", "alt_code", "", "<77067>"]
    ]
    assert 'id="chart-field"' in html and 'id="section-reconciliation"' not in html
    assert 'id="reconciliation"' in html
    found = {(r.cells[0], r.cells[1]) for r in page.tables["findings"]}
    assert {("A9999", "unknown"), ("G0202", "retired")} <= found
    assert ("77067", "unchecked") in {(r.cells[0].strip("<>"), r.cells[1]) for r in
                                      page.tables["findings"]}  # fmt: skip
    assert "findings.csv" in html

    hcpcs_page = Page(hcpcs_html)
    assert 'id="chart-letter"' in hcpcs_html and 'id="chart-kind"' in hcpcs_html
    assert 'id="reconciliation"' in hcpcs_html
    assert "descriptors are shown in full" in hcpcs_page.licence
    assert hcpcs_page.tables  # HCPCS 2017 → 2018 has changes


def test_tables_shrink_to_keep_the_page_under_the_size_limit(
    render, monkeypatch: pytest.MonkeyPatch
) -> None:
    import codecatalog.report_html as report_html

    full = render(include_licensed=True)
    limit = len(full.encode("utf-8")) - 40_000
    monkeypatch.setattr(report_html, "SIZE_LIMIT", limit)
    html = render(include_licensed=True)
    page = Page(html)
    assert len(html.encode("utf-8")) <= limit
    assert page.left_out  # the biggest tables now leave rows out, and say so
    for name, sentence in page.left_out.items():
        shown = len(page.tables[name])
        assert shown < MAX_ROWS and f"first {shown:,} of" in sentence
