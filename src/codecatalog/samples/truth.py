"""Ground-truth change logs: the CSV header, change types and the truth files."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

CHANGE_TYPES = (
    "added",
    "retired",
    "reactivated",
    "descriptor_revised",
    "descriptor_editorial",
    "attribute_changed",
)
TRUTH_HEADER = (
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
)


def write_truth(
    truth: dict[tuple[int, int], list[tuple[str, str, str, str, str, str]]], out: Path
) -> None:
    """Write out/truth/changes_<y0>_<y1>.csv per step and out/truth/summary.json."""
    tdir = out / "truth"
    tdir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, dict[str, int]] = {}
    for (y0, y1), rows in truth.items():
        with open(tdir / f"changes_{y0}_{y1}.csv", "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(TRUTH_HEADER)
            for key, ctype, fld, old, new, action in rows:
                w.writerow(("cpt", y0, y1, key, ctype, fld, old, new, f"{y1}-01-01", action))
        counts = Counter(row[1] for row in rows)
        summary[f"{y0}_{y1}"] = {ct: counts.get(ct, 0) for ct in CHANGE_TYPES}
    (tdir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
