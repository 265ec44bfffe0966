"""Generate two quarters of an NCCI-PTP-shaped edit file (FORMATS.md §3) for the table benchmark.

    .venv/bin/python bench/ncci_gen.py OUT_DIR [--rows 5000000] [--seed 0]
    .venv/bin/python bench/ncci_gen.py OUT_DIR --releases [--bare] [--rows 5000000] [--seed 0]

With `--releases`: the real release layout instead, from the package's generator
(`codecatalog.samples.policy.generate_ptp`): `OUT_DIR/ncci-ptp-2026Q1/` and `…2026Q2/`, eight
parts each (practitioner and hospital, f1-f4; zips, or the bare `.txt` files with `--bare`),
`--rows` lines in the first quarter over both tables, and `OUT_DIR/truth/` (the edit log and the
expected changes). The rest of this docstring describes the single-file mode.

Writes `OUT_DIR/ncci_ptp_2026q1.txt` and `ncci_ptp_2026q2.txt`: tab-delimited, CRLF, Latin-1, the
6-line preamble (two title lines, then the 4-row stacked header), then one row per edit pair with
seven columns: column 1 code, column 2 code, the prior-1996 flag (`*` or blank), effective date,
deletion date (`YYYYMMDD`, the last valid day, or `*` = active), modifier indicator (0, 1, 9) and
the PTP edit rationale. Rows are sorted by (column 1, column 2); keys are unique.

The second quarter differs from the first by fixed shares of the first quarter's rows (CHANGES):
active edits deleted (deletion date set to the quarter's last day), modifier indicators flipped,
rationales changed, edits vanished from the file, and new edits added. The output is a function
of (rows, seed) only. Everything is vectorised (numpy, pyarrow): 2 × 5M rows take seconds.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from codecatalog.samples.policy import (
    PTP_PREAMBLE_LINES,
    PTP_RATIONALE_WEIGHTS,
    PTP_RATIONALES,
    ptp_preamble,
)

Q1_NAME = "ncci_ptp_2026q1.txt"
Q2_NAME = "ncci_ptp_2026q2.txt"
COLUMNS = (
    "column_1",
    "column_2",
    "prior_1996",
    "effective_date",
    "deletion_date",
    "modifier",
    "rationale",
)
PREAMBLE_LINES = PTP_PREAMBLE_LINES  # two title lines and the 4-row stacked header


preamble = ptp_preamble  # the six lines above the first edit (FORMATS.md §3)


RATIONALES, RATIONALE_WEIGHTS = PTP_RATIONALES, PTP_RATIONALE_WEIGHTS  # one vocabulary


@dataclass(frozen=True)
class Changes:
    """Shares of the first quarter's rows changed in the second (each a fixed count, rounded)."""

    deleted: float = 0.006  # active edit gets a deletion date (the last day of Q1)
    modifier: float = 0.003  # active edit's modifier indicator flips 0 <-> 1
    rationale: float = 0.001  # active edit's rationale changes
    vanished: float = 0.001  # row disappears from the file
    added: float = 0.005  # new edit pair, effective on Q2's first day


CHANGES = Changes()
FIRST_QUARTER = 1996 * 4  # quarter index of 1996Q1 (index = year * 4 + quarter - 1)
Q1_QUARTER = 2026 * 4  # 2026Q1
Q1_LAST_DAY = 20260331
Q2_FIRST_DAY = 20260401
_QUARTER_END = np.array([331, 630, 930, 1231], dtype=np.int64)


def code_universe(rng: np.random.Generator) -> pa.Array:
    """≈12.6k distinct CPT/HCPCS-shaped codes, sorted (so pair order is the file's sort order)."""

    def pick(low: int, high: int, count: int, width: int, suffix: str) -> list[str]:
        numbers = rng.choice(np.arange(low, high), count, replace=False)
        return [f"{n:0{width}d}{suffix}" for n in numbers.tolist()]

    codes = pick(100, 99500, 9000, 5, "")  # Category I
    codes += pick(1, 1000, 300, 4, "T")  # Category III
    codes += pick(1, 450, 300, 4, "U")  # PLA
    codes += pick(1, 150, 30, 4, "A")  # vaccine / administration
    letters = np.array(list("ACEGHJKLPQRV"))
    hcpcs = {
        f"{letter}{n:04d}"
        for letter, n in zip(
            rng.choice(letters, 4000).tolist(), rng.integers(0, 10000, 4000).tolist(), strict=True
        )
    }
    codes += rng.permutation(sorted(hcpcs))[:3000].tolist()
    return pa.array(sorted(set(codes)), pa.string())


def _unique_pairs(
    rng: np.random.Generator, n_codes: int, count: int, exclude: np.ndarray | None = None
) -> np.ndarray:
    """`count` distinct sorted pair ids (column1 * n_codes + column2), column 1 ≠ column 2,
    none in the sorted array `exclude`."""
    space = n_codes * n_codes
    pairs = np.empty(0, dtype=np.int64)
    draw = count + count // 20 + 100
    while len(pairs) < count:
        candidates = rng.integers(0, space, draw, dtype=np.int64)
        candidates = candidates[candidates // n_codes != candidates % n_codes]
        if exclude is not None and len(exclude):
            at = np.minimum(np.searchsorted(exclude, candidates), len(exclude) - 1)
            candidates = candidates[exclude[at] != candidates]
        pairs = np.unique(np.concatenate([pairs, candidates]))
        draw *= 2
    keep = np.sort(rng.permutation(len(pairs))[:count])
    return pairs[keep]


def _quarter_start(quarter: np.ndarray) -> np.ndarray:
    return (quarter // 4) * 10000 + (quarter % 4 * 3 + 1) * 100 + 1


def _quarter_end(quarter: np.ndarray) -> np.ndarray:
    return (quarter // 4) * 10000 + _QUARTER_END[quarter % 4]


@dataclass
class Quarter:
    """One quarter's rows as numpy columns (dates as YYYYMMDD ints, deletion 0 = active)."""

    pairs: np.ndarray  # int64 pair ids, sorted
    prior: np.ndarray  # bool: in existence prior to 1996
    effective: np.ndarray  # int64 YYYYMMDD
    deletion: np.ndarray  # int64 YYYYMMDD, 0 = active (`*`)
    modifier: np.ndarray  # int8: 0, 1, 9
    rationale: np.ndarray  # int8 index into RATIONALES

    def take(self, index: np.ndarray) -> Quarter:
        return Quarter(*(getattr(self, f)[index] for f in self.__dataclass_fields__))


def first_quarter(rng: np.random.Generator, n_codes: int, rows: int) -> Quarter:
    """The 2026Q1 file: edits effective since 1996, about a quarter of them deleted (history)."""
    pairs = _unique_pairs(rng, n_codes, rows)
    prior = rng.random(rows) < 0.15
    eff_q = np.where(prior, FIRST_QUARTER, rng.integers(FIRST_QUARTER + 1, Q1_QUARTER + 1, rows))
    deleted = (rng.random(rows) < 0.25) & (eff_q < Q1_QUARTER)
    same_day = deleted & (rng.random(rows) < 0.2)  # deleted on its effective date: modifier 9
    del_q = eff_q + (rng.random(rows) * (Q1_QUARTER - eff_q)).astype(np.int64)
    effective = _quarter_start(eff_q)
    deletion = np.where(same_day, effective, np.where(deleted, _quarter_end(del_q), 0))
    modifier = np.where(same_day, 9, (rng.random(rows) < 0.85).astype(np.int64)).astype(np.int8)
    weights = np.array(RATIONALE_WEIGHTS, dtype=float)
    rationale = rng.choice(len(RATIONALES), rows, p=weights / weights.sum()).astype(np.int8)
    return Quarter(pairs, prior, effective, deletion, modifier, rationale)


def second_quarter(
    rng: np.random.Generator, n_codes: int, q1: Quarter, changes: Changes = CHANGES
) -> Quarter:
    """The 2026Q2 file: q1 with the CHANGES applied (disjoint sets of rows)."""
    rows = len(q1.pairs)
    count = {name: round(getattr(changes, name) * rows) for name in changes.__dataclass_fields__}
    q2 = q1.take(np.arange(rows))  # a copy
    active = np.flatnonzero(q1.deletion == 0)
    touched = rng.permutation(active)
    at = 0
    for name in ("deleted", "modifier", "rationale"):
        chosen = touched[at : at + count[name]]
        at += count[name]
        if name == "deleted":
            q2.deletion[chosen] = Q1_LAST_DAY
        elif name == "modifier":
            q2.modifier[chosen] = 1 - q2.modifier[chosen]
        else:
            q2.rationale[chosen] = (q2.rationale[chosen] + 1) % len(RATIONALES)
    untouched = np.setdiff1d(np.arange(rows), touched[:at], assume_unique=True)
    vanished = rng.choice(untouched, count["vanished"], replace=False)
    q2 = q2.take(np.setdiff1d(np.arange(rows), vanished, assume_unique=True))
    added_n = count["added"]
    new = Quarter(
        pairs=_unique_pairs(rng, n_codes, added_n, exclude=q1.pairs),
        prior=np.zeros(added_n, dtype=bool),
        effective=np.full(added_n, Q2_FIRST_DAY, dtype=np.int64),
        deletion=np.zeros(added_n, dtype=np.int64),
        modifier=(rng.random(added_n) < 0.85).astype(np.int8),
        rationale=rng.integers(0, len(RATIONALES), added_n).astype(np.int8),
    )
    merged = Quarter(
        *(np.concatenate([getattr(q2, f), getattr(new, f)]) for f in Quarter.__dataclass_fields__)
    )
    return merged.take(np.argsort(merged.pairs, kind="stable"))


def quarters(rows: int, seed: int = 0) -> tuple[pa.Array, Quarter, Quarter]:
    """(code universe, 2026Q1, 2026Q2) for `rows` first-quarter rows, from `seed` alone."""
    rng = np.random.default_rng(seed)
    codes = code_universe(rng)
    q1 = first_quarter(rng, len(codes), rows)
    q2 = second_quarter(np.random.default_rng([seed, 2]), len(codes), q1)
    return codes, q1, q2


def _text(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.large_string())


def _star_or(mask: np.ndarray, other: pa.Array) -> pa.Array:
    """`*` where `mask`, else `other`."""
    return pc.if_else(pa.array(mask), pa.scalar("*", pa.large_string()), other)


def render(codes: pa.Array, quarter: Quarter) -> memoryview:
    """The rows as the file's bytes: seven tab-separated fields and CRLF per row."""
    n_codes = len(codes)
    big = codes.cast(pa.large_string())
    dates = _text(quarter.effective)
    deletion = _star_or(quarter.deletion == 0, _text(quarter.deletion))
    rationales = pa.array([r + "\r\n" for r in RATIONALES], pa.large_string())
    line = pc.binary_join_element_wise(
        big.take(pa.array(quarter.pairs // n_codes)),
        big.take(pa.array(quarter.pairs % n_codes)),
        _star_or(quarter.prior, pa.scalar("", pa.large_string())),
        dates,
        deletion,
        _text(quarter.modifier),
        rationales.take(pa.array(quarter.rationale)),
        pa.scalar("\t", pa.large_string()),
    )
    line = line.combine_chunks() if isinstance(line, pa.ChunkedArray) else line
    offsets = np.frombuffer(line.buffers()[1], dtype=np.int64)[
        line.offset : line.offset + len(line) + 1
    ]
    return memoryview(line.buffers()[2])[int(offsets[0]) : int(offsets[-1])]


def write_quarter(path: Path, codes: pa.Array, quarter: Quarter, copyright_year: int) -> None:
    """Write one quarter's file (preamble, then the rows)."""
    with path.open("wb") as out:
        out.write(preamble(copyright_year).encode("latin-1"))
        out.write(render(codes, quarter))


def generate(out_dir: Path, rows: int = 5_000_000, seed: int = 0) -> tuple[Path, Path]:
    """Write both quarters into `out_dir`; return (Q1 path, Q2 path)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    codes, q1, q2 = quarters(rows, seed)
    paths = (out_dir / Q1_NAME, out_dir / Q2_NAME)
    write_quarter(paths[0], codes, q1, 2025)
    write_quarter(paths[1], codes, q2, 2025)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="output directory")
    parser.add_argument("--rows", type=int, default=5_000_000, help="first-quarter rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--releases", action="store_true", help="eight-part releases (codecatalog.samples.policy)"
    )
    parser.add_argument("--bare", action="store_true", help="with --releases: .txt, not zips")
    args = parser.parse_args()
    if args.releases:
        from codecatalog.samples.policy import generate_ptp

        paths = generate_ptp(args.out, args.rows, args.seed, zipped=not args.bare)
    else:
        paths = list(generate(args.out, args.rows, args.seed))
    for path in paths:
        print(path)


if __name__ == "__main__":
    main()
