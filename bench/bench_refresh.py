"""Benchmark one 11k-code CPT refresh, step by step, against baselines from the same run.

    .venv/bin/python bench/bench_refresh.py [--repeat 3]

Baselines: `hash release bytes` (reading and sha256-ing every input file: a refresh's I/O floor)
and `python dict diff` (comparing the two catalogs key by key in plain Python, as one would without
the warehouse). Each step prints its best time of --repeat runs and its ratio to the baseline.
`sync reader file` is what every commit pays to replace `codecatalog.duckdb` with a fresh copy of
the writer file (so analysts' read-only connections never block a refresh).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from codecatalog import pipeline
from codecatalog import warehouse as wh
from codecatalog.diff.changes import changes_between
from codecatalog.families import family
from codecatalog.intervals import rows_at
from codecatalog.read.archive import ReleaseArchive
from codecatalog.read.cpt import read_cpt_release
from codecatalog.samples import generate_releases
from codecatalog.sources import source
from codecatalog.validate_release import validate_cpt_release
from codecatalog.versions import Version
from codecatalog.writer import Writer, utc_now


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def hash_release(path: Path) -> None:
    for file in path.rglob("*"):
        if file.is_file():
            hashlib.sha256(file.read_bytes()).hexdigest()


def dict_diff(old: dict, new: dict) -> list:
    changes = []
    for key in old.keys() | new.keys():
        if key not in new or key not in old:
            changes.append((key, "row"))
            continue
        changes.extend((key, c) for c, v in old[key].items() if new[key][c] != v)
    return changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        generate_releases(tmp / "samples", [2024, 2025], seed=0)
        release_dir = tmp / "samples" / "cpt-2025"
        warehouse_dir = tmp / "wh"
        pipeline.refresh(
            "cpt", str(tmp / "samples" / "cpt-2024"), "2024", warehouse_dir=warehouse_dir
        )
        release = read_cpt_release(ReleaseArchive.open(release_dir))
        cfg = source("cpt")

        def load_fresh() -> None:
            shutil.rmtree(tmp / "wh-load", ignore_errors=True)
            shutil.copytree(warehouse_dir, tmp / "wh-load")
            with Writer.open(tmp / "wh-load") as writer, writer.transaction():
                wh.load_release(
                    writer.con,
                    cfg,
                    Version.parse("2025"),
                    Version.parse("2025").effective_date,
                    family(cfg.family).parts(release, cfg, writer.con),
                    content_sha256="x",
                    source="bench",
                    files=[],
                    loaded_at=utc_now(),
                )

        load_fresh()
        shutil.copytree(tmp / "wh-load", tmp / "wh-diff")
        writer = Writer.open(tmp / "wh-diff")
        con = writer.con
        catalogs = {
            v: con.execute(f"SELECT * FROM {rows_at('cpt_catalog', str(order))}")
            .df()
            .set_index("code")
            .to_dict("index")
            for v, order in (("2024", 2024010100), ("2025", 2025010100))
        }

        def refresh_plain() -> None:
            shutil.rmtree(tmp / "wh-full", ignore_errors=True)
            shutil.copytree(warehouse_dir, tmp / "wh-full")
            pipeline.refresh("cpt", str(release_dir), "2025", warehouse_dir=tmp / "wh-full")

        io_floor = best(lambda: hash_release(release_dir), repeat)
        dict_floor = best(lambda: dict_diff(catalogs["2024"], catalogs["2025"]), repeat)
        rows = [
            ("baseline: hash release bytes", io_floor, io_floor),
            (
                "read (decode + parse 8 files)",
                best(lambda: read_cpt_release(ReleaseArchive.open(release_dir)), repeat),
                io_floor,
            ),
            (
                "validate (9 schemas, lazy)",
                best(lambda: validate_cpt_release(release), repeat),
                io_floor,
            ),
            ("load (one transaction, incl. warehouse copy)", best(load_fresh, repeat), io_floor),
            ("sync reader file (copy after a commit)", best(writer.sync_reader, repeat), io_floor),
            (
                "whole refresh, no Prefect (incl. warehouse copy)",
                best(refresh_plain, repeat),
                io_floor,
            ),
            ("baseline: python dict diff (catalog only)", dict_floor, dict_floor),
            (
                "diff (SQL, catalog + clinician descriptors)",
                best(lambda: changes_between(con, cfg, "2024", "2025"), repeat),
                dict_floor,
            ),
        ]
        writer.close()
        print(
            f"CPT release 2025: {len(release.tables['longult'].frame):,} codes, "
            f"{len(release.tables['clinician'].frame):,} clinician descriptors; "
            f"best of {repeat}"
        )
        print(f"{'step':52} {'seconds':>8} {'ratio':>7}")
        for name, seconds, baseline in rows:
            print(f"{name:52} {seconds:8.3f} {seconds / baseline:6.1f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
