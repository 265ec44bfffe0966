"""Generating a run of synthetic releases plus their ground truth."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

from codecatalog.samples.catalog import Catalog
from codecatalog.samples.edits import transition
from codecatalog.samples.layout import write_release
from codecatalog.samples.truth import write_truth


def generate_releases(out_dir: Path, years: Sequence[int], seed: int = 0) -> list[Path]:
    """Write one synthetic AMA CPT release directory per year into out_dir (out_dir/cpt-<year>/)
    plus ground truth files out_dir/truth/changes_<y0>_<y1>.csv for each consecutive pair and
    out_dir/truth/summary.json. Returns the release dirs.

    Deterministic: same years+seed -> byte-identical files.
    """
    years = [int(y) for y in years]
    if not years or years != sorted(set(years)):
        raise ValueError("years must be a non-empty, strictly increasing sequence")
    out_dir = Path(out_dir)
    catalog = Catalog(years, seed)
    catalog.build_first()
    dirs = [out_dir / f"cpt-{years[0]}"]
    write_release(catalog, dirs[0], years[0])
    for y0, y1 in itertools.pairwise(years):
        transition(catalog, y0, y1)
        dirs.append(out_dir / f"cpt-{y1}")
        write_release(catalog, dirs[-1], y1)
    write_truth(catalog.truth, out_dir)
    return dirs
