"""Tests for the synthetic CPT release generator.

The releases are checked by plain parsing. The generator's editorial edits are checked two
independent ways: each is one of the generator's editorial operations (re-recognised here), and the
diff's own rule (codecatalog.diff.normalise) agrees with every truth label. The generator does not
use that rule, so the agreement means something.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import random
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from codecatalog.diff.normalise import is_editorial
from codecatalog.samples import generate_releases
from codecatalog.samples.abbrev import MEDIUM_WIDTH, SHORT_WIDTH, abbrev
from codecatalog.samples.descriptors import describe
from codecatalog.samples.rewrite import EDITORIAL_KINDS, editorial_edits, revise, symbol_swap

YEARS = (2024, 2025, 2026)
PAIRS = list(itertools.pairwise(YEARS))
CODE_RE = re.compile(r"^(\d{5}|\d{4}[FTUAM])$")
LINE_CODE_RE = re.compile(r"^(\d{5}|\d{4}[FTUAM])[\t ]")
SHAPES = {
    "cat1": r"^\d{5}$",
    "cat2": r"^\d{4}F$",
    "cat3": r"^\d{4}T$",
    "pla": r"^\d{4}U$",
    "vaccine": r"^\d{4}A$",
    "maaa": r"^\d{4}M$",
}
TRUTH_HEADER = [
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
]
CHANGE_TYPES = {
    "added",
    "retired",
    "reactivated",
    "descriptor_revised",
    "descriptor_editorial",
    "attribute_changed",
}
FILES = (
    "standard/LONGULT.txt",
    "standard/MEDU.txt",
    "standard/SHORTU.txt",
    "standard/Consumer Friendly Descriptors/ConsumerDescriptor.txt",
    "standard/Clinician Descriptors/ClinicianDescriptor.txt",
    "standard/Proprietary Laboratory Analyses (PLA) Codes/CPTPLA",
    "CPT Link/history/History_DTK_tab.txt",
    "CPT Link/history/Deleted_DTK_tab.txt",
)


TYPOGRAPHIC = {("'", "’"), ("‘", "'"), ('"', "“"), ('"', "”"), ("-", "–")}


def editorial_operation(old: str, new: str) -> str | None:
    """Which one of the generator's editorial operations turns ``old`` into ``new`` (or back)."""
    for a, b in ((old, new), (new, old)):
        if a != b and a.lower() == b.lower() and len(a) == len(b):
            at = [i for i in range(len(a)) if a[i] != b[i]]
            for m in re.finditer(r"\b[A-Za-z]{3,}\b", a):
                word, other = m.group(), b[m.start() : m.end()]
                inside = all(m.start() <= i < m.end() for i in at)
                if inside and word.islower() and other == word.capitalize():
                    return "case"
        if len(a) == len(b) + 1:
            i = next(i for i in range(len(a)) if a[i : i + 1] != b[i : i + 1])
            if a[:i] + a[i + 1 :] == b:
                ch, before, after = a[i], a[i - 1 : i], a[i + 1 : i + 3]
                if ch == " " and (a[i - 1 : i + 1] == "  " or a[i : i + 2] == "  "):
                    return "space"
                if ch in ",;" and before.isalpha() and after[:1] == " " and after[1:].isalpha():
                    return "mark"
                if ch == "." and i == len(a) - 1 and before.isalpha():
                    return "mark"
        if len(a) == len(b):
            diff_at = [i for i in range(len(a)) if a[i] != b[i]]
            if len(diff_at) == 1 and (a[diff_at[0]], b[diff_at[0]]) in TYPOGRAPHIC:
                i = diff_at[0]
                if not a[i - 1 : i].isdigit() and not a[i + 1 : i + 2].isdigit():
                    return "typographic"
    return None


def is_comma_move(old: str, new: str) -> bool:
    """``new`` is ``old`` with a comma moved across the next word: "A, b c" -> "A b, c"."""
    wo, wn = old.split(" "), new.split(" ")
    if [w.rstrip(",") for w in wo] != [w.rstrip(",") for w in wn]:
        return False
    at = [i for i, (x, y) in enumerate(zip(wo, wn, strict=True)) if x != y]
    return len(at) == 2 and at[1] == at[0] + 1 and wo[at[0]][-1] == wn[at[1]][-1] == ","


def crlf_lines(data: bytes, encoding: str) -> list[str]:
    text = data.decode(encoding)
    assert text.endswith("\r\n")
    return text[:-2].split("\r\n")


def split_preamble(lines: list[str]) -> tuple[list[str], list[str]]:
    start = next(i for i, ln in enumerate(lines) if LINE_CODE_RE.match(ln))
    return lines[:start], lines[start:]


def tab_rows(path: Path, encoding: str) -> tuple[list[str], list[list[str]]]:
    lines = crlf_lines(path.read_bytes(), encoding)
    return lines[0].split("\t"), [ln.split("\t") for ln in lines[1:]]


def load_release(root: Path) -> dict:
    std = root / "standard"
    rel: dict = {}
    for name, key in (("LONGULT.txt", "long"), ("MEDU.txt", "medium"), ("SHORTU.txt", "short")):
        raw = crlf_lines((std / name).read_bytes(), "cp1252")
        pre, body = split_preamble(raw)
        rel[f"{key}_preamble"], rel[f"{key}_lines"] = pre, body
        if key == "long":
            rel[key] = dict(ln.split("\t", 1) for ln in body)
        else:
            rel[key] = {ln[:5]: ln[6:].rstrip(" ") for ln in body}
    header, rows = tab_rows(
        std / "Consumer Friendly Descriptors" / "ConsumerDescriptor.txt", "utf-8-sig"
    )
    rel["consumer_header"] = header
    rel["consumer"] = {r[1]: r[2] for r in rows}
    rel["concept"] = {r[1]: r[0] for r in rows}
    header, rows = tab_rows(std / "Clinician Descriptors" / "ClinicianDescriptor.txt", "utf-8")
    rel["clinician_header"], rel["clinician_rows"] = header, rows
    rel["clinician"] = {}
    for _concept, code, cid, text in rows:
        rel["clinician"].setdefault(code, []).append((cid, text))
    tree = ET.parse(std / "Proprietary Laboratory Analyses (PLA) Codes" / "CPTPLA")
    rel["xml_root"] = tree.getroot()
    rel["pla"] = {
        el.get("cdCode"): {child.tag: child.text or "" for child in el} | {"cdId": el.get("cdId")}
        for el in tree.getroot()
    }
    hist = root / "CPT Link" / "history"
    rel["history_header"], rel["history"] = tab_rows(hist / "History_DTK_tab.txt", "cp1252")
    rel["deleted_header"], deleted = tab_rows(hist / "Deleted_DTK_tab.txt", "cp1252")
    rel["deleted"] = {r[1]: r for r in deleted}
    return rel


def field_values(rel: dict, code: str) -> dict[str, str]:
    vals = {
        "long_descriptor": rel["long"][code],
        "medium_descriptor": rel["medium"][code],
        "short_descriptor": rel["short"][code],
    }
    if code in rel["consumer"]:
        vals["consumer_descriptor"] = rel["consumer"][code]
    for cid, text in rel["clinician"].get(code, []):
        vals[f"clinician_descriptor:{cid}"] = text
    if code in rel["pla"]:
        p = rel["pla"][code]
        vals |= {
            "pla_lab_name": p["labName"],
            "pla_manufacturer_name": p["manufacturerName"],
            "pla_test_name": p["testName"],
        }
    return vals


@pytest.fixture(scope="module")
def generated(samples: Path) -> dict:
    """The session's sample releases (conftest: seed 0, 2024-2026), read back."""
    out = samples
    dirs = [samples / f"cpt-{year}" for year in YEARS]
    truth = {}
    for y0, y1 in PAIRS:
        with open(out / "truth" / f"changes_{y0}_{y1}.csv", encoding="utf-8", newline="") as fh:
            truth[(y0, y1)] = list(csv.reader(fh))
    return {
        "out": out,
        "dirs": dirs,
        "rel": {y: load_release(d) for y, d in zip(YEARS, dirs, strict=True)},
        "truth": truth,
    }


def truth_dicts(generated: dict, pair: tuple[int, int]) -> list[dict[str, str]]:
    rows = generated["truth"][pair]
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_layout(generated: dict) -> None:
    out = generated["out"]
    assert generated["dirs"] == [out / f"cpt-{y}" for y in YEARS]
    for d in generated["dirs"]:
        for name in FILES:
            assert (d / name).is_file(), name
    for y0, y1 in PAIRS:
        assert (out / "truth" / f"changes_{y0}_{y1}.csv").is_file()
    assert (out / "truth" / "summary.json").is_file()


def test_determinism(generated: dict, tmp_path: Path) -> None:
    # Same seed in a fresh interpreter with a different hash seed -> byte-identical tree.
    code = (
        "import sys; from pathlib import Path; from codecatalog.samples import "
        "generate_releases; generate_releases(Path(sys.argv[1]), [2024, 2025, 2026], seed=0)"
    )
    env = dict(os.environ, PYTHONHASHSEED="12345")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "again")], check=True, env=env)
    assert tree_bytes(tmp_path / "again") == tree_bytes(generated["out"])
    other = tmp_path / "other"
    generate_releases(other, [2024, 2025], seed=1)
    first = generated["dirs"][0] / FILES[0]
    assert (other / "cpt-2024" / FILES[0]).read_bytes() != first.read_bytes()


def test_crlf_line_endings(generated: dict) -> None:
    for d in generated["dirs"]:
        for name in FILES:
            data = (d / name).read_bytes()
            assert data.endswith(b"\r\n"), name
            assert data.count(b"\n") == data.count(b"\r\n"), name
            assert b"\r\r" not in data


@pytest.mark.parametrize("year", YEARS)
def test_fixed_width_files(generated: dict, year: int) -> None:
    rel = generated["rel"][year]
    for key in ("long", "medium", "short"):
        pre = rel[f"{key}_preamble"]
        assert f"CPT® {year}" in pre[0]
        assert pre[-1] == "" and pre[-2] != "", "exactly one blank line before the data"
        paragraphs = [ln for i, ln in enumerate(pre[:-1]) if ln and (i == 0 or not pre[i - 1])]
        assert 2 <= len(paragraphs) <= 4
        assert all(LINE_CODE_RE.match(ln) for ln in rel[f"{key}_lines"])
        codes = [ln[:5] for ln in rel[f"{key}_lines"]]
        assert codes == sorted(codes) and len(set(codes)) == len(codes)
    assert set(rel["long"]) == set(rel["medium"]) == set(rel["short"])
    for key, width in (("medium", 54), ("short", 34)):
        for ln in rel[f"{key}_lines"]:
            assert len(ln) == width and ln[5] == " " and ln[6] != " ", ln
            desc = ln[6:].rstrip(" ")
            assert desc == desc.upper() and desc.isascii()
    for desc in rel["long"].values():
        assert desc == desc.strip() and "\t" not in desc
    assert any(ch in desc for desc in rel["long"].values() for ch in "<>%/")


def test_longult_encoding(generated: dict) -> None:
    data = (generated["dirs"][0] / FILES[0]).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    text = data.decode("cp1252")
    assert "®" in text.splitlines()[0]
    assert not all(d.isascii() for d in generated["rel"][2024]["long"].values())
    medu = (generated["dirs"][0] / FILES[1]).read_bytes().decode("cp1252")
    assert all(ln.isascii() for ln in medu.splitlines()[1:])


@pytest.mark.parametrize("year", YEARS)
def test_codes_and_shapes(generated: dict, year: int) -> None:
    codes = set(generated["rel"][year]["long"])
    assert 10_500 <= len(codes) <= 11_500
    assert all(CODE_RE.match(c) for c in codes)
    for shape in SHAPES.values():
        assert any(re.match(shape, c) for c in codes), shape
    cat1 = [int(c) for c in codes if c.isdigit()]
    assert all(100 <= n <= 99499 for n in cat1)
    assert 5_000 < sum(1 for n in cat1 if 10004 <= n <= 69990) < 7_000


@pytest.mark.parametrize("year", YEARS)
def test_consumer_and_clinician(generated: dict, year: int) -> None:
    d, rel = generated["dirs"][YEARS.index(year)], generated["rel"][year]
    consumer = (d / FILES[3]).read_bytes()
    assert consumer.startswith(b"\xef\xbb\xbf")
    clinician = (d / FILES[4]).read_bytes()
    assert not clinician.startswith(b"\xef\xbb\xbf")
    clinician.decode("utf-8")
    assert rel["consumer_header"] == ["Concept Id", "CPT Code", "Consumer Friendly Descriptor"]
    assert rel["clinician_header"] == [
        "Concept Id",
        "CPT Code",
        "Clinician Descriptor Id",
        "Clinician Descriptor",
    ]
    expected = {c for c in rel["long"] if not c.endswith("F")}
    assert set(rel["consumer"]) == expected == set(rel["clinician"])
    assert all(1 <= len(v) <= 4 for v in rel["clinician"].values())
    ids = [r[2] for r in rel["clinician_rows"]]
    assert all(re.fullmatch(r"\d{8}", i) for i in ids) and len(set(ids)) == len(ids)
    concepts = rel["concept"]
    assert all(re.fullmatch(r"\d{7}", c) for c in concepts.values())
    assert len(set(concepts.values())) == len(concepts)
    assert all(concepts[r[1]] == r[0] for r in rel["clinician_rows"])
    for text in [*rel["consumer"].values(), *(r[3] for r in rel["clinician_rows"])]:
        assert text == text.strip() and text != text.upper()


def test_no_double_spaces_in_first_release(generated: dict) -> None:
    rel = generated["rel"][YEARS[0]]
    texts = [
        *rel["long"].values(),
        *rel["medium"].values(),
        *rel["short"].values(),
        *rel["consumer"].values(),
        *(r[3] for r in rel["clinician_rows"]),
    ]
    assert not [t for t in texts if "  " in t]


def test_ids_stable_across_years(generated: dict) -> None:
    for y0, y1 in PAIRS:
        r0, r1 = generated["rel"][y0], generated["rel"][y1]
        for code in set(r0["concept"]) & set(r1["concept"]):
            assert r0["concept"][code] == r1["concept"][code]
        id0 = {r[2]: r[1] for r in r0["clinician_rows"]}
        id1 = {r[2]: r[1] for r in r1["clinician_rows"]}
        common = set(id0) & set(id1)
        assert len(common) > 0.9 * len(id0)
        assert all(id0[i] == id1[i] for i in common)


@pytest.mark.parametrize("year", YEARS)
def test_pla_xml(generated: dict, year: int) -> None:
    d, rel = generated["dirs"][YEARS.index(year)], generated["rel"][year]
    assert (
        (d / FILES[5])
        .read_bytes()
        .startswith(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>')
    )
    assert rel["xml_root"].tag == "plaCodes"
    assert set(rel["pla"]) == {c for c in rel["long"] if c.endswith("U")}
    iso = re.compile(r"^\d{4}-\d{2}-\d{2}T00:00:00[+-]\d{2}:\d{2}$")
    missing_consumer = 0
    for code, p in rel["pla"].items():
        assert p["cdDesc"] == rel["long"][code]
        assert p["cdMDesc"] == rel["medium"][code]
        assert p["cdSDesc"] == rel["short"][code]
        assert p["cdStatus"] == "EXISTING"
        assert p["clinicalDesc"] == rel["clinician"][code][0][1]
        if "consumerDesc" in p:
            assert p["consumerDesc"] == rel["consumer"][code]
        else:
            missing_consumer += 1
        assert iso.match(p["effectiveDate"]) and iso.match(p["publishDate"])
        assert p["labName"] and p["manufacturerName"] and p["testName"]
    assert 0 < missing_consumer < 0.25 * len(rel["pla"])
    assert any("®" in p["testName"] or "™" in p["testName"] for p in rel["pla"].values())
    assert any("&" in p["labName"] for p in rel["pla"].values())


def test_history_and_deleted(generated: dict) -> None:
    first = generated["rel"][YEARS[0]]
    assert first["history_header"] == [
        "Date",
        "Change Type",
        "Concept Id",
        "CPT Code",
        "Level",
        "Prior Value",
        "Current Value",
        "Instruction",
    ]
    assert first["deleted_header"] == [
        "Concept Id",
        "Code",
        "Date Deleted",
        "Level",
        "Descriptor",
        "Instruction",
    ]
    date_re = re.compile(r"^(Pre-1990|(19[89]\d|20\d\d)\d{4})$")
    added = {r[3] for r in first["history"] if r[1] == "ADDED"}
    assert set(first["long"]) <= added
    cat1_dates = [
        r[0]
        for r in first["history"]
        if r[1] == "ADDED" and r[3] in first["long"] and r[3].isdigit()
    ]
    assert 0.3 < cat1_dates.count("Pre-1990") / len(cat1_dates) < 0.5
    assert all(d == "Pre-1990" or "19900101" <= d <= "20230101" for d in cat1_dates)
    assert 100 <= len(first["deleted"]) <= 200
    assert not set(first["deleted"]) & set(first["long"])
    assert any(r[2] == "Pre-1990" for r in first["deleted"].values())
    for year in YEARS:
        rel = generated["rel"][year]
        assert all(r[1] in ("ADDED", "DELETED") and date_re.match(r[0]) for r in rel["history"])
        assert all(r[4] in {"1", "2", "3", "4"} for r in rel["history"])
        assert not set(rel["deleted"]) & set(rel["long"])
        instr = [r[5] for r in rel["deleted"].values()]
        assert all(i == "" or re.fullmatch(r"Code deleted\. To report, see \S+", i) for i in instr)
    for y0, y1 in PAIRS:
        h0, h1 = generated["rel"][y0]["history"], generated["rel"][y1]["history"]
        assert h1[: len(h0)] == h0, "history is cumulative"
        assert all(r[0] == f"{y1}0101" for r in h1[len(h0) :])


def test_truth_format(generated: dict) -> None:
    for (y0, y1), rows in generated["truth"].items():
        raw = (generated["out"] / "truth" / f"changes_{y0}_{y1}.csv").read_bytes()
        assert b"\r" not in raw and raw.endswith(b"\n")
        assert rows[0] == TRUTH_HEADER
        dicts = truth_dicts(generated, (y0, y1))
        keys = [(r["key"], r["change_type"], r["field"]) for r in dicts]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
        assert {r["change_type"] for r in dicts} == CHANGE_TYPES
        for r in dicts:
            assert (r["codeset"], r["from_version"], r["to_version"]) == ("cpt", str(y0), str(y1))
            assert r["effective_date"] == f"{y1}-01-01"
            action = {"added": "ADDED", "reactivated": "ADDED", "retired": "DELETED"}
            assert r["source_action"] == action.get(r["change_type"], "")
            if r["change_type"] in action:
                assert r["field"] == r["old_value"] == r["new_value"] == ""
            else:
                assert r["field"] and r["old_value"] != r["new_value"]
        counts = Counter(r["change_type"] for r in dicts)
        assert 150 <= counts["added"] <= 250 and 80 <= counts["retired"] <= 120


def test_truth_summary(generated: dict) -> None:
    summary = json.loads((generated["out"] / "truth" / "summary.json").read_text("utf-8"))
    for pair in PAIRS:
        counts = Counter(r["change_type"] for r in truth_dicts(generated, pair))
        assert summary[f"{pair[0]}_{pair[1]}"] == {ct: counts.get(ct, 0) for ct in CHANGE_TYPES}


@pytest.mark.parametrize("pair", PAIRS)
def test_truth_whole_row_events(generated: dict, pair: tuple[int, int]) -> None:
    y0, y1 = pair
    r0, r1 = generated["rel"][y0], generated["rel"][y1]
    rows = truth_dicts(generated, pair)
    by_type: dict[str, set[str]] = {}
    for r in rows:
        by_type.setdefault(r["change_type"], set()).add(r["key"])
    ever_listed = {r[3] for r in r0["history"]}
    old_concepts = {r[2] for r in r0["history"]}
    assert any(c.endswith("U") for c in by_type["added"])
    assert any(c.endswith("T") for c in by_type["added"])
    for code in by_type["added"]:
        assert code not in r0["long"] and code in r1["long"]
        assert code not in ever_listed, "new codes must never have been used"
        assert r1["concept"].get(code, "x") not in old_concepts
    for code in by_type["retired"]:
        assert code in r0["long"] and code not in r1["long"]
        assert r1["deleted"][code][2] == f"{y1}0101"
    for code in by_type["reactivated"]:
        assert code not in r0["long"] and code in r1["long"]
        assert code in r0["deleted"] and code not in r1["deleted"]
        assert r1["history"][-1][0] == f"{y1}0101"
        if code in r1["concept"]:
            assert r1["concept"][code] == r0["deleted"][code][0]
    # Only these three kinds change the code set.
    assert set(r1["long"]) - set(r0["long"]) == by_type["added"] | by_type["reactivated"]
    assert set(r0["long"]) - set(r1["long"]) == by_type["retired"]
    first_deleted = generated["rel"][YEARS[0]]["deleted"]
    assert any(c in first_deleted for c in by_type["reactivated"])
    if pair != PAIRS[0]:
        prev = PAIRS[PAIRS.index(pair) - 1]
        prev_retired = {
            r["key"] for r in truth_dicts(generated, prev) if r["change_type"] == "retired"
        }
        back = by_type["reactivated"] & prev_retired
        assert len(back) == 1
        code = back.pop()
        assert r1["long"][code] == generated["rel"][prev[0]]["long"][code]
        assert r1["medium"][code] == generated["rel"][prev[0]]["medium"][code]


@pytest.mark.parametrize("pair", PAIRS)
def test_truth_field_changes_match_files(generated: dict, pair: tuple[int, int]) -> None:
    y0, y1 = pair
    r0, r1 = generated["rel"][y0], generated["rel"][y1]
    truth = {(r["key"], r["field"]): r for r in truth_dicts(generated, pair) if r["field"]}
    observed = {}
    for code in set(r0["long"]) & set(r1["long"]):
        v0, v1 = field_values(r0, code), field_values(r1, code)
        for fld in v0.keys() | v1.keys():
            if v0.get(fld, "") != v1.get(fld, ""):
                observed[(code, fld)] = (v0.get(fld, ""), v1.get(fld, ""))
    assert set(observed) == set(truth)
    for k, (old, new) in observed.items():
        assert (truth[k]["old_value"], truth[k]["new_value"]) == (old, new), k
    fields = Counter(f.split(":")[0] for _, f in truth)
    assert set(fields) == {
        "long_descriptor",
        "medium_descriptor",
        "short_descriptor",
        "consumer_descriptor",
        "clinician_descriptor",
        "pla_lab_name",
        "pla_manufacturer_name",
        "pla_test_name",
    }
    assert len({k for k, _ in truth}) == len(
        {(k, r["change_type"]) for (k, _), r in truth.items()}
    ), "one kind of edit per code"


@pytest.mark.parametrize("pair", PAIRS)
def test_revised_vs_editorial(generated: dict, pair: tuple[int, int]) -> None:
    rows = truth_dicts(generated, pair)
    editorial = [r for r in rows if r["change_type"] == "descriptor_editorial"]
    revised = [r for r in rows if r["change_type"] == "descriptor_revised"]
    operations = Counter()
    for r in editorial:
        old, new = r["old_value"], r["new_value"]
        assert old != new
        operations[editorial_operation(old, new)] += 1
        assert is_editorial(old, new), r
    assert None not in operations, "every editorial edit is one editorial operation"
    assert all(operations[kind] >= 3 for kind in EDITORIAL_KINDS), operations
    for r in revised:
        old, new = r["old_value"], r["new_value"]
        assert editorial_operation(old, new) is None, r
        assert not is_editorial(old or None, new or None), r
    assert sum(1 for r in revised if is_comma_move(r["old_value"], r["new_value"])) >= 3
    ed_fields = Counter(r["field"].split(":")[0] for r in editorial)
    assert ed_fields["long_descriptor"] >= 20 and ed_fields["medium_descriptor"] >= 3
    assert ed_fields["consumer_descriptor"] >= 5 and ed_fields["clinician_descriptor"] >= 5
    long_rev = [r for r in revised if r["field"] == "long_descriptor"]
    assert len(long_rev) >= 60
    symbol_only = [
        r
        for r in long_rev
        if re.sub(r"[<>=+-]", "", r["old_value"]) == re.sub(r"[<>=+-]", "", r["new_value"])
    ]
    assert len(symbol_only) >= 5
    clin = [r for r in revised if r["field"].startswith("clinician_descriptor:")]
    assert sum(1 for r in clin if r["old_value"] == "") >= 5
    assert sum(1 for r in clin if r["new_value"] == "") >= 3
    attrs = Counter(r["field"] for r in rows if r["change_type"] == "attribute_changed")
    assert attrs["pla_lab_name"] >= 5 and attrs["pla_manufacturer_name"] >= 2
    assert attrs["pla_test_name"] >= 2


def sample_texts() -> list[tuple[str, bool]]:
    """(text, plain) pairs: invented long, consumer and clinician texts of every category, and
    the all-capital abbreviations of the long ones."""
    rng = random.Random(5)
    texts: list[tuple[str, bool]] = []
    for cat in ("anes", "surg", "cat3", "rad", "lab", "med", "em", "cat2", "pla", "vacc", "maaa"):
        for _ in range(30):
            long, consumer, clinician = describe(rng, cat)
            texts += [(t, False) for t in (long, consumer, clinician) if t]
            texts += [
                (abbrev(long, MEDIUM_WIDTH, False), True),
                (abbrev(long, SHORT_WIDTH, True), True),
            ]
    return texts


def test_every_editorial_operation_is_editorial() -> None:
    """Each edit the generator calls editorial is that operation, and the diff's rule agrees."""
    seen = Counter()
    for text, plain in sample_texts():
        for kind, edits in editorial_edits(text, plain).items():
            for new in edits:
                seen[kind] += 1
                assert editorial_operation(text, new) == kind, (kind, text, new)
                assert is_editorial(text, new) and is_editorial(new, text), (kind, text, new)
                if plain:
                    assert new.isascii() and new.upper() == new, (text, new)
    assert all(seen[kind] >= 20 for kind in EDITORIAL_KINDS), seen


def test_every_revision_is_a_revision() -> None:
    """Revisions (number, word, symbol, comma moved) are never editorial, by either account."""
    rng = random.Random(6)
    count = 0
    for text, _plain in sample_texts():
        for new in [revise(text, rng) for _ in range(5)] + [symbol_swap(text, rng)]:
            if new is None:
                continue
            count += 1
            assert new != text
            assert editorial_operation(text, new) is None, (text, new)
            assert not is_editorial(text, new) and not is_editorial(new, text), (text, new)
    assert count > 1000
