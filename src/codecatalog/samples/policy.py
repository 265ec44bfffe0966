"""Synthetic CMS NCCI policy releases (PTP edits, MUE) with an edit log and the exact changes.

Layouts are those of /work/shared/docs/FORMATS.md §3 (PTP) and §4 (MUE); every value is invented
(no AMA text). Everything is a function of (size, seed) and vectorised with numpy and pyarrow:
the full PTP size (5M rows over practitioner + hospital) takes seconds.

PTP (`ptp_run`, `write_ptp_release`, `ptp_expected_changes`): a release is a directory of eight
parts, `medicare-ncci-<yyyy>q<q>-<table>-ptp-edits-<ccipra|ccioph>-v<VV><Q-1>r0-f<1-4>.zip`, each
holding the tab-delimited `.txt` (CRLF, Latin-1, 6-line preamble, 7 columns) and a stand-in
`.xlsx`; or the eight bare `.txt` files. Rows are split over f1..f4 by column-1 code ranges.

MUE (`mue_run`, `write_mue_release`, `mue_expected_changes`): three CSVs
`MCR_MUE_<Table>Services_Eff_MM-DD-YYYY.csv` (a quoted multi-line notice, the header with its
embedded newline, rows `<code>,<int>,"<digit> <text>","<rationale>"`), optionally zipped.

Each quarter after the first differs from its predecessor by the events of the run's edit log
(`PtpRun.log`, `MueRun.log`); `*_expected_changes` turns a step's events into the change rows
codecatalog computes (key, change_type, field, old_value, new_value, effective_date), following
the `ncci_ptp` and `mue` declarations (deletion date = the first day an edit no longer applies).

Codes are mostly the live codes of the package's synthetic CPT samples (`codecatalog samples`,
the years `cpt_years`, default the NCCI year and the two before, seed `cpt_seed`), plus invented
HCPCS Level II codes, a few CPT codes retired in those samples and a few never issued (unknown).

    python -m codecatalog.samples.policy ncci OUT [--rows N] [--seed S] [--quarters Q ...] [--bare]
    python -m codecatalog.samples.policy mue OUT [--codes N] [--seed S] [--quarters ...] [--zip]
"""

from __future__ import annotations

import argparse
import functools
import io
import itertools
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

CHANGE_FIELDS = ("key", "change_type", "field", "old_value", "new_value", "effective_date")
LOG_COLUMNS = ("quarter", "key", "event", "field", "old_value", "new_value", "date")
KEY_SEPARATOR = "|"

# --------------------------------------------------------------------------------------------
# Quarters and dates


def parse_quarter(label: str) -> tuple[int, int]:
    """`2026Q2` → (2026, 2)."""
    m = re.fullmatch(r"(\d{4})Q([1-4])", label)
    if not m:
        raise ValueError(f"not a quarter label like 2026Q1: {label!r}")
    return int(m[1]), int(m[2])


def quarter_start(label: str) -> date:
    """The first day of a quarter: `2026Q2` → 2026-04-01."""
    year, q = parse_quarter(label)
    return date(year, 3 * q - 2, 1)


def _ymd(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _ymd_date(value: int) -> date:
    return date(value // 10000, value // 100 % 100, value % 100)


def _quarter_index_start(index: np.ndarray) -> np.ndarray:
    """YYYYMMDD of the first day of quarter index (year * 4 + quarter - 1)."""
    start: np.ndarray = (index // 4) * 10000 + (index % 4 * 3 + 1) * 100 + 1
    return start


def _days_after(day: date, offsets: np.ndarray) -> np.ndarray:
    """YYYYMMDD ints of `day` + each offset (days)."""
    days = np.datetime64(day.isoformat(), "D") + offsets.astype("timedelta64[D]")
    text = np.datetime_as_string(days, unit="D")
    return np.char.replace(text, "-", "").astype(np.int64)


def _check_quarters(quarters: Sequence[str]) -> list[str]:
    labels = list(quarters)
    index = [y * 4 + q for y, q in map(parse_quarter, labels)]
    if not labels or any(b != a + 1 for a, b in itertools.pairwise(index)):
        raise ValueError(f"quarters must be consecutive, e.g. 2026Q1 2026Q2: {labels}")
    return labels


# --------------------------------------------------------------------------------------------
# Codes


@dataclass(frozen=True)
class SampleCpt:
    """The code lists of the package's synthetic CPT samples for some years and a seed."""

    live: tuple[str, ...]  # codes active in the last year
    retired: tuple[str, ...]  # codes retired during the sample years (loaded, then retired)
    unknown: tuple[str, ...]  # CPT-shaped codes the samples never issued


@functools.lru_cache(maxsize=4)
def sample_cpt(years: tuple[int, ...], seed: int = 0) -> SampleCpt:
    """The codes of `codecatalog samples OUT --years <years> --seed <seed>` in its last year."""
    from codecatalog.samples.catalog import Catalog
    from codecatalog.samples.codes import CATS, fmt
    from codecatalog.samples.edits import transition

    catalog = Catalog(list(years), seed)
    catalog.build_first()
    retired: list[str] = []
    for y0, y1 in itertools.pairwise(years):
        transition(catalog, y0, y1)
        retired += catalog.retired_prev
    issued = set(catalog.state) | set(catalog.deleted)
    unknown = []
    for _, lo, hi, suffix, *_ in CATS:  # the highest free numbers of each category
        free = [fmt(n, suffix) for n in range(hi, lo - 1, -1) if fmt(n, suffix) not in issued]
        unknown += free[:3]
    return SampleCpt(tuple(sorted(catalog.state)), tuple(sorted(retired)), tuple(sorted(unknown)))


HCPCS_LETTERS = "ACEGHJKLPQRV"  # Level II letters used here (no D: CDT codes are ADA's)
HCPCS_LETTER_WEIGHTS = (10, 3, 8, 14, 2, 20, 4, 9, 2, 12, 1, 3)


def _cpt_kind(code: str) -> str:
    return "cat1" if code.isdigit() else {"T": "cat3", "U": "pla", "F": "cat2"}.get(code[4], "cat1")


@dataclass(frozen=True)
class Universe:
    """Sorted codes (the sort order is the files' order) and their groups."""

    codes: np.ndarray  # str, sorted
    group: np.ndarray  # group name per code: cat1, cat3, pla, cat2, hcpcs, retired, unknown

    def weights(self, shares: dict[str, float], popularity: np.ndarray | None = None) -> np.ndarray:
        """Sampling probabilities: each group gets its share, spread by `popularity`."""
        w = np.ones(len(self.codes)) if popularity is None else popularity.astype(float)
        out = np.zeros(len(self.codes))
        for name, share in shares.items():
            mask = self.group == name
            if mask.any():
                out[mask] = share * w[mask] / w[mask].sum()
        probabilities: np.ndarray = out / out.sum()
        return probabilities


def universe(
    n_hcpcs: int, rng: np.random.Generator, cpt_years: tuple[int, ...], cpt_seed: int
) -> Universe:
    """The sample CPT codes (live, retired, unknown) and `n_hcpcs` invented HCPCS codes."""
    cpt = sample_cpt(cpt_years, cpt_seed)
    letters = np.array(list(HCPCS_LETTERS))
    p = np.array(HCPCS_LETTER_WEIGHTS, float)
    hcpcs: set[str] = set()
    while len(hcpcs) < n_hcpcs:
        need = n_hcpcs - len(hcpcs)
        picked = rng.choice(letters, need, p=p / p.sum())
        numbers = rng.integers(0, 10000, need)
        hcpcs.update(f"{a}{n:04d}" for a, n in zip(picked.tolist(), numbers.tolist(), strict=True))
    groups = {c: _cpt_kind(c) for c in cpt.live}
    groups.update({c: "retired" for c in cpt.retired})
    groups.update({c: "unknown" for c in cpt.unknown})
    groups.update({c: "hcpcs" for c in sorted(hcpcs)[:n_hcpcs]})
    codes = sorted(groups)
    return Universe(np.array(codes), np.array([groups[c] for c in codes]))


def _text(values: np.ndarray | pa.Array) -> pa.Array:
    return pc.cast(pa.array(values), pa.large_string())


def _buffer(line: pa.Array | pa.ChunkedArray) -> memoryview:
    """The concatenated bytes of a large_string array."""
    line = line.combine_chunks() if isinstance(line, pa.ChunkedArray) else line
    if len(line) == 0:
        return memoryview(b"")
    offsets = np.frombuffer(line.buffers()[1], dtype=np.int64)[
        line.offset : line.offset + len(line) + 1
    ]
    return memoryview(line.buffers()[2])[int(offsets[0]) : int(offsets[-1])]


# A tiny valid workbook standing in for the `.xlsx` CMS ships next to each text file.
_OX = "http://schemas.openxmlformats.org"
_XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_RELS = f"{_OX}/officeDocument/2006/relationships"
_XLSX_PARTS = {
    "[Content_Types].xml": f'{_XML}<Types xmlns="{_OX}/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_SHEET_TYPE}.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    f'ContentType="{_SHEET_TYPE}.worksheet+xml"/></Types>',
    "_rels/.rels": f'{_XML}<Relationships xmlns="{_OX}/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_RELS}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>",
    "xl/workbook.xml": f'{_XML}<workbook xmlns="{_OX}/spreadsheetml/2006/main" '
    f'xmlns:r="{_RELS}"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets>'
    "</workbook>",
    "xl/_rels/workbook.xml.rels": f'{_XML}<Relationships xmlns="{_OX}/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
    "</Relationships>",
}


def stand_in_xlsx(note: str) -> bytes:
    """A one-cell workbook (deterministic bytes) saying it stands in for the real spreadsheet."""
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        f'<row r="1"><c r="A1" t="inlineStr"><is><t>{note}</t></is></c></row>'
        "</sheetData></worksheet>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as book:
        for name, text in [*_XLSX_PARTS.items(), ("xl/worksheets/sheet1.xml", sheet)]:
            book.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), text)
    return out.getvalue()


def _write_zip(path: Path, members: Sequence[tuple[str, bytes | memoryview]], day: date) -> None:
    """A zip with fixed timestamps (deterministic bytes)."""
    stamp = (day.year, day.month, day.day, 0, 0, 0)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            with z.open(info, "w") as out:
                out.write(data)


def _unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sort-based: faster than np.unique's hashing for large int64)."""
    ordered = np.sort(values)
    if len(ordered) == 0:
        return ordered
    distinct: np.ndarray = ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])]
    return distinct


def _without(size: int, drop: np.ndarray) -> np.ndarray:
    """The positions 0..size-1 not in `drop`."""
    keep = np.ones(size, bool)
    keep[drop] = False
    return np.flatnonzero(keep)


def _count(share: float, base: int, minimum: int = 1) -> int:
    return max(minimum, round(share * base))


# --------------------------------------------------------------------------------------------
# NCCI PTP

PTP_TABLES = ("practitioner", "hospital")
PTP_PREFIX = {"practitioner": "ccipra", "hospital": "ccioph"}
PTP_COLUMNS = (
    "column_1", "column_2", "prior_1996", "effective_date", "deletion_date", "modifier",
    "rationale",
)  # fmt: skip
PTP_PREAMBLE_LINES = 6
PTP_PART_BOUNDS = ("30000", "60000", "90000")  # column 1 < bound → f1, f2, f3; the rest f4
PTP_RATIONALES = (
    "Misuse of column two code with column one code",
    "Standards of medical/surgical services",
    "Mutually exclusive procedures",
    "CPT Manual or CMS manual coding instructions",
    "More extensive procedure",
    "HCPCS/CPT procedure code definition",
    "CPT separate procedure definition",
    "Designated component of a comprehensive service",
    "Anesthesia service included in surgical procedure",
    "Sequential procedure",
    "Laboratory panel",
    "Gender-specific procedures",
)
PTP_RATIONALE_WEIGHTS = np.array((30, 25, 12, 8, 6, 5, 4, 4, 2, 2, 1, 1), float)
PTP_CODE_SHARES = {  # share of code draws by group (CPT Category I dominant)
    "cat1": 0.79, "hcpcs": 0.17, "cat3": 0.02, "pla": 0.004, "cat2": 0.002,
    "retired": 0.01, "unknown": 0.004,
}  # fmt: skip
PRACTITIONER_SHARE = 0.55  # practitioner rows of the total (one practitioner part ≈ 675k of 5M)


def ptp_version_tag(quarter: str, correction: int = 0) -> str:
    """`2026Q1` → `v320r0` (VV = year - 1994, then quarter - 1, then the correction)."""
    year, q = parse_quarter(quarter)
    return f"v{year - 1994:02d}{q - 1}r{correction}"


def ptp_part_stem(table: str, quarter: str, part: int) -> str:
    """`ccipra-v320r0-f1`: the text file's name without extension."""
    return f"{PTP_PREFIX[table]}-{ptp_version_tag(quarter)}-f{part}"


def ptp_zip_name(table: str, quarter: str, part: int) -> str:
    year, q = parse_quarter(quarter)
    stem = ptp_part_stem(table, quarter, part)
    return f"medicare-ncci-{year}q{q}-{table}-ptp-edits-{stem}.zip"


def ptp_preamble(copyright_year: int) -> str:
    """The six lines above the first edit (FORMATS §3), CRLF-terminated."""
    lines = [
        f"CPT only copyright {copyright_year} American Medical Association.  All rights reserved.",
        "Column1/Column2 Edits",
        "Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale",
        "\t\tprior to 1996\tDate\tDate\t0=not allowed\t",
        "\t\t\t\t*=no data\t1=allowed\t",
        "\t\t\t\t\t9=not applicable\t",
    ]
    return "".join(line + "\r\n" for line in lines)


@dataclass
class PtpRows:
    """Rows as numpy columns; `key` = table * n² + column_1 * n + column_2 (code indexes)."""

    key: np.ndarray  # int64
    prior: np.ndarray  # bool
    effective: np.ndarray  # int64 YYYYMMDD
    deletion: np.ndarray  # int64 YYYYMMDD, 0 = `*` (active)
    modifier: np.ndarray  # int8 0, 1, 9
    rationale: np.ndarray  # int8 index into PTP_RATIONALES

    def take(self, index: np.ndarray) -> PtpRows:
        return PtpRows(*(getattr(self, f)[index] for f in _PTP_FIELDS))

    def __len__(self) -> int:
        return len(self.key)

    @staticmethod
    def concat(parts: Sequence[PtpRows]) -> PtpRows:
        return PtpRows(*(np.concatenate([getattr(p, f) for p in parts]) for f in _PTP_FIELDS))


_PTP_FIELDS = ("key", "prior", "effective", "deletion", "modifier", "rationale")


@dataclass
class PtpQuarter:
    """One release: `rows` (one per key, sorted) and `losers` (a key's extra deleted rows)."""

    label: str
    rows: PtpRows
    losers: PtpRows


@dataclass(frozen=True)
class PtpShares:
    """Shares of the previous quarter's rows touched by each event (each at least 1 row)."""

    added: float = 0.005  # new edit, effective the quarter's first day
    added_deleted: float = 0.0001  # new edit deleted on its effective date (modifier 9)
    deleted: float = 0.005  # deletion date = the quarter's first day
    retro_deleted: float = 0.0005  # deletion date inside the previous quarter
    deleted_on_effective: float = 0.0002  # edit effective on the previous quarter's first day
    # deleted on that same day, modifier set to 9
    modifier: float = 0.003  # modifier indicator 0 <-> 1
    rationale: float = 0.001  # another rationale
    vanished: float = 0.0005  # active edit leaves the file without a deletion date
    duplicate: float = 0.0002  # an active edit gains a deleted row for the same pair


@dataclass
class PtpRun:
    """A run of consecutive PTP quarters over one code universe, with its edit log."""

    codes: np.ndarray
    quarters: dict[str, PtpQuarter]
    log: pd.DataFrame  # LOG_COLUMNS; `quarter` = the quarter the event first shows in

    @property
    def n_codes(self) -> int:
        return len(self.codes)

    def key_text(self, key: np.ndarray) -> np.ndarray:
        """`table|column_1|column_2` for key ids."""
        n = self.n_codes
        table = np.array(PTP_TABLES)[key // (n * n)]
        c1, c2 = self.codes[key // n % n], self.codes[key % n]
        sep = np.array(KEY_SEPARATOR)
        return np.char.add(np.char.add(np.char.add(np.char.add(table, sep), c1), sep), c2)


def _draw_keys(
    rng: np.random.Generator,
    table: int,
    count: int,
    n: int,
    w1: np.ndarray,
    w2: np.ndarray,
    exclude: np.ndarray,
) -> np.ndarray:
    """`count` new distinct sorted keys of `table`, column 1 ≠ column 2, none in `exclude`."""
    got = np.empty(0, np.int64)
    draw = count + count // 10 + 50
    while len(got) < count:
        c1 = rng.choice(n, draw, p=w1)
        c2 = rng.choice(n, draw, p=w2)
        keys = (table * n * n + c1 * n + c2)[c1 != c2]
        if len(exclude):
            at = np.minimum(np.searchsorted(exclude, keys), len(exclude) - 1)
            keys = keys[exclude[at] != keys]
        got = _unique(np.concatenate([got, keys]))
        draw *= 2
    return np.sort(rng.permutation(got)[:count])


def _ptp_weights(codes: Universe, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Column 1 and column 2 draw probabilities: column 2 codes are much more skewed (a few
    codes such as E/M visits and injections are bundled into many others)."""
    w1 = codes.weights(PTP_CODE_SHARES, rng.lognormal(0, 0.5, len(codes.codes)))
    w2 = codes.weights(PTP_CODE_SHARES, rng.lognormal(0, 1.3, len(codes.codes)))
    return w1, w2


def _rationales(rng: np.random.Generator, count: int) -> np.ndarray:
    p = PTP_RATIONALE_WEIGHTS / PTP_RATIONALE_WEIGHTS.sum()
    return rng.choice(len(PTP_RATIONALES), count, p=p).astype(np.int8)


def _first_ptp_quarter(
    rng: np.random.Generator, label: str, rows: int, n: int, w1: np.ndarray, w2: np.ndarray
) -> PtpQuarter:
    """Edits effective since 1996, about a quarter of them deleted (history), a few keys listed
    twice (an active row and a deleted one)."""
    year, q = parse_quarter(label)
    current = year * 4 + q - 1
    n_dup = _count(0.0005, rows) if rows >= 50 else 0
    unique = rows - n_dup
    per_table = [round(unique * PRACTITIONER_SHARE), unique - round(unique * PRACTITIONER_SHARE)]
    keys = np.concatenate(
        [
            _draw_keys(rng, t, count, n, w1, w2, np.empty(0, np.int64))
            for t, count in enumerate(per_table)
        ]
    )
    first = 1996 * 4
    prior = rng.random(unique) < 0.15
    new_now = ~prior & (rng.random(unique) < 0.03)  # effective on this quarter's first day
    eff_q = np.where(prior, first, rng.integers(first + 1, current, unique))
    eff_q = np.where(new_now, current, eff_q)
    deleted = (rng.random(unique) < 0.25) & (eff_q < current)
    same_day = deleted & (rng.random(unique) < 0.2)  # deleted on the effective date: modifier 9
    del_q = eff_q + 1 + (rng.random(unique) * (current - eff_q)).astype(np.int64)
    effective = _quarter_index_start(eff_q)
    deletion = np.where(same_day, effective, np.where(deleted, _quarter_index_start(del_q), 0))
    modifier = (rng.random(unique) < 0.8).astype(np.int8)
    modifier[same_day | (rng.random(unique) < 0.002)] = 9
    body = PtpRows(keys, prior, effective, deletion, modifier, _rationales(rng, unique))
    losers = _duplicates(rng, body, n_dup, np.zeros(unique, bool))
    return PtpQuarter(label, body, losers)


def _duplicates(rng: np.random.Generator, rows: PtpRows, count: int, busy: np.ndarray) -> PtpRows:
    """`count` deleted rows for active, non-prior keys not `busy`: the edit as it was before its
    current effective date (deleted on that date, the first day it no longer applied)."""
    cand = np.flatnonzero((rows.deletion == 0) & ~rows.prior & (rows.effective > 19960401) & ~busy)
    chosen = np.sort(rng.permutation(cand)[:count])
    eff = rows.effective[chosen]
    eff_q = (eff // 10000) * 4 + (eff // 100 % 100 - 1) // 3
    old_q = 1996 * 4 + (rng.random(len(chosen)) * (eff_q - 1996 * 4)).astype(np.int64)
    return PtpRows(
        rows.key[chosen],
        old_q == 1996 * 4,
        _quarter_index_start(old_q),
        eff,
        (1 - rows.modifier[chosen] % 2).astype(np.int8),
        _rationales(rng, len(chosen)),
    )


def _next_ptp_quarter(
    rng: np.random.Generator,
    old: PtpQuarter,
    label: str,
    n: int,
    w1: np.ndarray,
    w2: np.ndarray,
    seen: np.ndarray,
    shares: PtpShares,
) -> tuple[PtpQuarter, list[tuple[str, np.ndarray, str, np.ndarray, np.ndarray, np.ndarray]]]:
    """The next quarter and its events: (event, keys, field, old values, new values, dates)."""
    start, old_start = quarter_start(label), quarter_start(old.label)
    new_day, old_day = _ymd(start), _ymd(old_start)
    rows = old.rows.take(np.arange(len(old.rows)))  # a copy
    base = len(rows)
    events: list[tuple[str, np.ndarray, str, np.ndarray, np.ndarray, np.ndarray]] = []

    def record(event: str, idx: np.ndarray, fld: str = "", old_v=None, new_v=None, dates=None):  # type: ignore[no-untyped-def]
        size = len(idx)
        blank = np.full(size, "", dtype=object)
        events.append(
            (
                event,
                rows.key[idx],
                fld,
                blank if old_v is None else np.asarray(old_v, dtype=object),
                blank if new_v is None else np.asarray(new_v, dtype=object),
                blank if dates is None else np.asarray(dates).astype(str).astype(object),
            )
        )

    busy = np.isin(rows.key, old.losers.key)  # keys listed twice stay as they are
    active = (rows.deletion == 0) & ~busy
    # Deleted on the effective date: edits that took effect on the previous quarter's first day.
    on_day = np.flatnonzero(active & (rows.effective == old_day))
    on_eff = np.sort(rng.permutation(on_day)[: _count(shares.deleted_on_effective, base)])
    record("deleted_on_effective", on_eff, "modifier", rows.modifier[on_eff].astype(str),
           np.full(len(on_eff), "9"), rows.effective[on_eff])  # fmt: skip
    rows.deletion[on_eff] = rows.effective[on_eff]
    rows.modifier[on_eff] = 9
    active[on_eff] = False
    pool = rng.permutation(np.flatnonzero(active))
    at = 0

    def take(count: int) -> np.ndarray:
        nonlocal at
        chosen = pool[at : at + count]
        at += len(chosen)
        return np.sort(chosen)

    deleted = take(_count(shares.deleted, base))
    rows.deletion[deleted] = new_day
    record("deleted", deleted, dates=rows.deletion[deleted])

    retro = take(_count(shares.retro_deleted, base))
    span = (start - old_start).days
    rows.deletion[retro] = _days_after(old_start, rng.integers(1, span, len(retro)))
    record("retro_deleted", retro, dates=rows.deletion[retro])

    flip = take(_count(shares.modifier, base))
    flip = flip[rows.modifier[flip] != 9]
    before = rows.modifier[flip].copy()
    rows.modifier[flip] = 1 - before
    record("modifier", flip, "modifier", before.astype(str), rows.modifier[flip].astype(str))

    reason = take(_count(shares.rationale, base))
    before = rows.rationale[reason].copy()
    shift = rng.integers(1, len(PTP_RATIONALES), len(reason))
    rows.rationale[reason] = ((before + shift) % len(PTP_RATIONALES)).astype(np.int8)
    names = np.array(PTP_RATIONALES, dtype=object)
    record("rationale", reason, "rationale", names[before], names[rows.rationale[reason]])

    gone = take(_count(shares.vanished, base))
    record("vanished", gone)

    extra = take(_count(shares.duplicate, base))
    flags = np.ones(len(rows), bool)
    flags[extra] = False
    new_losers = _duplicates(rng, rows, len(extra), flags)
    record("duplicate", np.searchsorted(rows.key, new_losers.key))

    kept = rows.take(_without(len(rows), gone))
    losers = PtpRows.concat([old.losers, new_losers])

    # Additions: new keys never seen before, split between the tables like the file.
    n_add = _count(shares.added, base)
    n_both = _count(shares.added_deleted, base)
    n_prac = round((n_add + n_both) * PRACTITIONER_SHARE)
    new_keys = np.concatenate(
        [
            _draw_keys(rng, 0, n_prac, n, w1, w2, seen),
            _draw_keys(rng, 1, n_add + n_both - n_prac, n, w1, w2, seen),
        ]
    )
    new_keys = rng.permutation(new_keys)
    size = len(new_keys)
    both = np.zeros(size, bool)
    both[:n_both] = True
    added = PtpRows(
        new_keys,
        np.zeros(size, bool),
        np.full(size, new_day, np.int64),
        np.where(both, new_day, 0).astype(np.int64),
        np.where(both, 9, (rng.random(size) < 0.8)).astype(np.int8),
        _rationales(rng, size),
    )
    for event, mask in (("added", ~both), ("added_deleted", both)):
        events.append(
            (event, new_keys[mask], "", *(np.full(mask.sum(), "", dtype=object),) * 2,
             np.full(mask.sum(), str(new_day) if event == "added_deleted" else "", dtype=object))
        )  # fmt: skip
    merged = PtpRows.concat([kept, added])
    merged = merged.take(np.argsort(merged.key, kind="stable"))
    return PtpQuarter(label, merged, losers), events


def ptp_run(
    rows: int = 5_000_000,
    seed: int = 0,
    quarters: Sequence[str] = ("2026Q1", "2026Q2"),
    *,
    shares: PtpShares = PtpShares(),
    cpt_years: Sequence[int] | None = None,
    cpt_seed: int = 0,
) -> PtpRun:
    """The PTP releases of `quarters` (consecutive), the first with `rows` lines in all (both
    tables, the rows of keys listed twice included); deterministic from (rows, seed)."""
    labels = _check_quarters(quarters)
    year = parse_quarter(labels[0])[0]
    years = tuple(cpt_years) if cpt_years else (year - 2, year - 1, year)
    rng = np.random.default_rng([seed, 8001])
    codes = universe(3000, rng, years, cpt_seed)
    n = len(codes.codes)
    w1, w2 = _ptp_weights(codes, rng)
    first = _first_ptp_quarter(rng, labels[0], rows, n, w1, w2)
    run = PtpRun(codes.codes, {labels[0]: first}, pd.DataFrame(columns=list(LOG_COLUMNS)))
    seen = first.rows.key
    logs = []
    for old, new in itertools.pairwise(labels):
        step_rng = np.random.default_rng([seed, 8002, *parse_quarter(new)])
        quarter, events = _next_ptp_quarter(
            step_rng, run.quarters[old], new, n, w1, w2, seen, shares
        )
        run.quarters[new] = quarter
        seen = _unique(np.concatenate([seen, quarter.rows.key]))
        for event, keys, fld, old_v, new_v, dates in events:
            logs.append(
                pd.DataFrame(
                    {
                        "quarter": new,
                        "key": run.key_text(keys).astype(object),
                        "event": event,
                        "field": fld,
                        "old_value": old_v,
                        "new_value": new_v,
                        "date": dates,
                    },
                    columns=list(LOG_COLUMNS),
                )
            )
    if logs:
        log = pd.concat(logs, ignore_index=True)
        run.log = log.sort_values(["quarter", "key", "event"], kind="stable", ignore_index=True)
    return run


def render_ptp(codes: np.ndarray, rows: PtpRows) -> memoryview:
    """The rows as the text file's bytes: seven tab-separated fields, CRLF per row."""
    n = len(codes)
    big = pa.array(codes, pa.large_string())
    star = pa.scalar("*", pa.large_string())
    deletion = pc.if_else(pa.array(rows.deletion == 0), star, _text(rows.deletion))
    prior = pc.if_else(pa.array(rows.prior), star, pa.scalar("", pa.large_string()))
    rationales = pa.array([r + "\r\n" for r in PTP_RATIONALES], pa.large_string())
    line = pc.binary_join_element_wise(
        big.take(pa.array(rows.key // n % n)),
        big.take(pa.array(rows.key % n)),
        prior,
        _text(rows.effective),
        deletion,
        _text(rows.modifier),
        rationales.take(pa.array(rows.rationale)),
        pa.scalar("\t", pa.large_string()),
    )
    return _buffer(line)


def ptp_file_rows(run: PtpRun, quarter: str) -> dict[tuple[str, int], PtpRows]:
    """The rows of each (table, part) text file in file order: sorted by column 1, column 2, a
    key's rows listed twice in an order drawn from the seed."""
    q = run.quarters[quarter]
    rows = PtpRows.concat([q.rows, q.losers])
    tie = np.random.default_rng([len(rows), *parse_quarter(quarter)]).random(len(rows))
    rows = rows.take(np.lexsort((tie, rows.key)))
    n = run.n_codes
    bounds = np.searchsorted(run.codes, np.array(PTP_PART_BOUNDS))  # first code index of f2..f4
    part = np.searchsorted(bounds, rows.key // n % n, side="right") + 1
    table = rows.key // (n * n)
    return {
        (name, p): rows.take(np.flatnonzero((table == t) & (part == p)))
        for t, name in enumerate(PTP_TABLES)
        for p in (1, 2, 3, 4)
    }


def write_ptp_release(run: PtpRun, quarter: str, out_dir: Path, *, zipped: bool = True) -> Path:
    """Write the quarter's eight parts into `out_dir` (zips, or bare `.txt` files); return it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    head = ptp_preamble(parse_quarter(quarter)[0] - 1).encode("latin-1")
    day = quarter_start(quarter)
    for (table, part), rows in ptp_file_rows(run, quarter).items():
        stem = ptp_part_stem(table, quarter, part)
        body = render_ptp(run.codes, rows)
        if not zipped:
            with (out_dir / f"{stem}.txt").open("wb") as out:
                out.write(head)
                out.write(body)
            continue
        text = head + bytes(body)
        note = f"Synthetic stand-in for {stem}: the edits are in {stem}.txt"
        _write_zip(
            out_dir / ptp_zip_name(table, quarter, part),
            [(f"{stem}.txt", text), (f"{stem}.xlsx", stand_in_xlsx(note))],
            day,
        )
    return out_dir


def _changes_frame(
    rows: list[tuple[str, str, str | None, str | None, str | None, date]],
) -> pd.DataFrame:
    ordered = sorted(rows, key=lambda r: (r[0], r[1], r[2] is not None, r[2] or ""))
    return pd.DataFrame(ordered, columns=list(CHANGE_FIELDS), dtype=object)


def _log_step(log: pd.DataFrame, quarters: Sequence[str], old: str, new: str) -> pd.DataFrame:
    labels = list(quarters)
    if old not in labels or new not in labels or labels.index(new) != labels.index(old) + 1:
        raise ValueError(f"{old} → {new} is not a step of the run ({labels})")
    return log[log["quarter"] == new]


def _log_rows(log: pd.DataFrame) -> list[tuple[str, ...]]:
    """The log's rows as text tuples (LOG_COLUMNS)."""
    return list(zip(*(log[c].astype(str).tolist() for c in LOG_COLUMNS), strict=True))


def ptp_expected_changes(run: PtpRun, old: str, new: str) -> pd.DataFrame:
    """The change rows codecatalog computes from `old` to the next quarter `new` (CHANGE_FIELDS,
    sorted by key, change_type, field with nulls first; missing values None)."""
    day = quarter_start(new)
    out: list[tuple[str, str, str | None, str | None, str | None, date]] = []
    for _, key, event, fld, old_value, new_value, when in _log_rows(
        _log_step(run.log, list(run.quarters), old, new)
    ):
        if event == "added":
            out.append((key, "added", None, None, None, day))
        elif event == "added_deleted":
            out += [(key, "added", None, None, None, day), (key, "retired", None, None, None, day)]
        elif event in ("deleted", "retro_deleted", "deleted_on_effective"):
            out.append((key, "retired", None, None, None, _ymd_date(int(when))))
            if event == "deleted_on_effective" and old_value != new_value:
                out.append((key, "attribute_changed", "modifier", old_value, new_value, day))
        elif event in ("modifier", "rationale"):
            out.append((key, "attribute_changed", fld, old_value, new_value, day))
        elif event == "vanished":
            out.append((key, "retired", None, None, None, day))
    return _changes_frame(out)


def generate_ptp(
    out_dir: Path,
    rows: int = 5_000_000,
    seed: int = 0,
    quarters: Sequence[str] = ("2026Q1", "2026Q2"),
    *,
    zipped: bool = True,
) -> list[Path]:
    """Write `out_dir/ncci-ptp-<quarter>/` per quarter plus `out_dir/truth/ncci_ptp_edit_log.csv`
    and `changes_<old>_<new>.csv` per step; return the release directories."""
    out_dir = Path(out_dir)
    run = ptp_run(rows, seed, quarters)
    dirs = [
        write_ptp_release(run, q, out_dir / f"ncci-ptp-{q}", zipped=zipped) for q in run.quarters
    ]
    _write_truth(out_dir / "truth", "ncci_ptp", run.log, list(run.quarters),
                 lambda a, b: ptp_expected_changes(run, a, b))  # fmt: skip
    return dirs


def _write_truth(truth: Path, name: str, log: pd.DataFrame, labels: list[str], changes) -> None:  # type: ignore[no-untyped-def]
    truth.mkdir(parents=True, exist_ok=True)
    log.to_csv(truth / f"{name}_edit_log.csv", index=False, lineterminator="\n")
    for old, new in itertools.pairwise(labels):
        changes(old, new).to_csv(
            truth / f"{name}_changes_{old}_{new}.csv", index=False, lineterminator="\n"
        )


# --------------------------------------------------------------------------------------------
# NCCI MUE

MUE_TABLES = ("practitioner", "hospital", "dme")
MUE_FILE_TABLE = {
    "practitioner": "PractitionerServices",
    "hospital": "OutpatientHospitalServices",
    "dme": "DMESupplierServices",
}
MUE_VALUE_HEADER = {
    "practitioner": "Practitioner Services MUE Values",
    "hospital": "Outpatient Hospital Services MUE Values",
    "dme": "DME Supplier Services MUE Values",
}
MUE_ZIP_TABLE = {
    "practitioner": "practitioner-services",
    "hospital": "outpatient-hospital-services",
    "dme": "dme-supplier-services",
}
MAI_TEXT = ("1 Line Edit", "2 Date of Service Edit: Policy", "3 Date of Service Edit: Clinical")
MAI_WEIGHTS = np.array((15, 45, 40), float)
MUE_RATIONALES = (
    "Code Descriptor / CPT Instruction",
    "Clinical: Data",
    "Anatomic Consideration",
    "CMS Policy",
    "Nature of Service",
    "Nature of Equipment",
    "Clinical: Literature",
    "Prescribing Information",
)
MUE_RATIONALE_WEIGHTS = np.array((20, 25, 20, 10, 12, 5, 5, 3), float)
MUE_VALUES = np.array((1, 2, 3, 4, 5, 6, 8, 10, 12, 20, 30, 50, 100, 200, 999))
MUE_VALUE_WEIGHTS = np.array((48, 16, 8, 6, 4, 4, 3, 3, 2, 2, 1, 1, 1, 0.5, 0.5), float)
MUE_CODE_SHARES = {  # per table: share of codes by group
    "practitioner": {"cat1": 0.62, "hcpcs": 0.3, "cat3": 0.04, "pla": 0.02, "cat2": 0.005,
                     "retired": 0.01, "unknown": 0.005},
    "hospital": {"cat1": 0.6, "hcpcs": 0.33, "cat3": 0.04, "pla": 0.01, "cat2": 0.005,
                 "retired": 0.01, "unknown": 0.005},
    "dme": {"cat1": 0.2, "hcpcs": 0.78, "cat3": 0.005, "retired": 0.01, "unknown": 0.005},
}  # fmt: skip
MUE_NOTICE = (
    "Synthetic MUE table generated by codecatalog for testing; the values are invented.\n"
    "CPT only copyright {year} American Medical Association. All rights reserved.\n"
    "See the CMS NCCI web pages for the real tables."
)


def mue_file_name(table: str, quarter: str) -> str:
    """`MCR_MUE_PractitionerServices_Eff_01-01-2026.csv`."""
    day = quarter_start(quarter)
    return f"MCR_MUE_{MUE_FILE_TABLE[table]}_Eff_{day:%m-%d-%Y}.csv"


def mue_zip_name(table: str, quarter: str) -> str:
    """`medicare-ncci-2026-q1-practitioner-services-mue-table.zip`."""
    year, q = parse_quarter(quarter)
    return f"medicare-ncci-{year}-q{q}-{MUE_ZIP_TABLE[table]}-mue-table.zip"


@dataclass
class MueRows:
    """Rows as numpy columns; `key` = table * n + code index, sorted."""

    key: np.ndarray
    value: np.ndarray
    mai: np.ndarray  # 0, 1, 2 → MAI 1, 2, 3
    rationale: np.ndarray

    def take(self, index: np.ndarray) -> MueRows:
        return MueRows(self.key[index], self.value[index], self.mai[index], self.rationale[index])


@dataclass
class MueRun:
    """A run of consecutive MUE quarters with its edit log."""

    codes: np.ndarray
    quarters: dict[str, MueRows]
    log: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(LOG_COLUMNS)))

    def key_text(self, key: np.ndarray) -> np.ndarray:
        n = len(self.codes)
        table = np.array(MUE_TABLES)[key // n]
        return np.char.add(np.char.add(table, KEY_SEPARATOR), self.codes[key % n])


@dataclass(frozen=True)
class MueShares:
    """Shares of the previous quarter's codes touched by each event (each at least 1)."""

    value: float = 0.02
    mai: float = 0.004
    rationale: float = 0.004
    added: float = 0.01
    vanished: float = 0.003


def _mue_values(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.choice(MUE_VALUES, count, p=MUE_VALUE_WEIGHTS / MUE_VALUE_WEIGHTS.sum())


def _pick(
    rng: np.random.Generator, weights: np.ndarray, count: int, exclude: np.ndarray
) -> np.ndarray:
    w = weights.copy()
    w[exclude] = 0
    count = min(count, int((w > 0).sum()))
    return np.sort(rng.choice(len(w), count, replace=False, p=w / w.sum()))


def mue_run(
    codes: int = 18_000,
    seed: int = 0,
    quarters: Sequence[str] = ("2026Q1", "2026Q2"),
    *,
    shares: MueShares = MueShares(),
    cpt_years: Sequence[int] | None = None,
    cpt_seed: int = 0,
) -> MueRun:
    """MUE releases of `quarters`: about `codes` codes per table (three tables)."""
    labels = _check_quarters(quarters)
    year = parse_quarter(labels[0])[0]
    years = tuple(cpt_years) if cpt_years else (year - 2, year - 1, year)
    rng = np.random.default_rng([seed, 8101])
    uni = universe(max(2000, codes), rng, years, cpt_seed)
    n = len(uni.codes)
    weights = {t: uni.weights(MUE_CODE_SHARES[t]) for t in MUE_TABLES}
    keys = np.concatenate(
        [
            t * n + _pick(rng, weights[name], codes, np.zeros(n, bool))
            for t, name in enumerate(MUE_TABLES)
        ]
    )
    p_mai, p_rat = (
        MAI_WEIGHTS / MAI_WEIGHTS.sum(),
        MUE_RATIONALE_WEIGHTS / MUE_RATIONALE_WEIGHTS.sum(),
    )
    first = MueRows(
        keys,
        _mue_values(rng, len(keys)),
        rng.choice(3, len(keys), p=p_mai),
        rng.choice(len(MUE_RATIONALES), len(keys), p=p_rat),
    )
    run = MueRun(uni.codes, {labels[0]: first})
    logs: list[pd.DataFrame] = []
    for old, new in itertools.pairwise(labels):
        step = np.random.default_rng([seed, 8102, *parse_quarter(new)])
        rows = run.quarters[old]
        rows = rows.take(np.arange(len(rows.key)))
        base = len(rows.key)
        counts = [shares.value, shares.mai, shares.rationale, shares.vanished]
        cuts = np.cumsum([_count(c, base) for c in counts])
        picks = [np.sort(p) for p in np.split(step.permutation(base)[: cuts[-1]], cuts[:-1])]
        events: list[tuple[str, np.ndarray, str, np.ndarray, np.ndarray]] = []

        idx = picks[0]
        before = rows.value[idx].copy()
        after = _mue_values(step, len(idx))
        after = np.where(after == before, before + 1, after)
        rows.value[idx] = after
        events.append(("value", idx, "mue_value", before.astype(str), after.astype(str)))

        idx = picks[1]
        before = rows.mai[idx].copy()
        rows.mai[idx] = (before + step.integers(1, 3, len(idx))) % 3
        events.append(
            ("mai", idx, "mai", (before + 1).astype(str), (rows.mai[idx] + 1).astype(str))
        )
        texts = np.array(MAI_TEXT, dtype=object)
        events.append(("mai", idx, "mai_text", texts[before], texts[rows.mai[idx]]))

        idx = picks[2]
        before = rows.rationale[idx].copy()
        rows.rationale[idx] = (before + step.integers(1, len(MUE_RATIONALES), len(idx))) % len(
            MUE_RATIONALES
        )
        names = np.array(MUE_RATIONALES, dtype=object)
        events.append(("rationale", idx, "rationale", names[before], names[rows.rationale[idx]]))

        gone = picks[3]
        events.append(("vanished", gone, "", np.full(len(gone), ""), np.full(len(gone), "")))

        for event, idx, fld, old_v, new_v in events:
            logs.append(_log_frame(run, new, rows.key[idx], event, fld, old_v, new_v))
        rows = rows.take(_without(base, gone))

        # Additions: codes never listed in that table before.
        seen_keys = np.concatenate([r.key for r in run.quarters.values()])
        added = []
        for t, name in enumerate(MUE_TABLES):
            listed = np.zeros(n, bool)
            listed[seen_keys[seen_keys // n == t] % n] = True
            count = _count(shares.added / len(MUE_TABLES), base)
            added.append(t * n + _pick(step, weights[name], count, listed))
        new_keys = np.concatenate(added)
        fresh = MueRows(
            new_keys,
            _mue_values(step, len(new_keys)),
            step.choice(3, len(new_keys), p=p_mai),
            step.choice(len(MUE_RATIONALES), len(new_keys), p=p_rat),
        )
        blank = np.full(len(new_keys), "")
        logs.append(_log_frame(run, new, new_keys, "added", "", blank, blank))
        merged = MueRows(
            *(
                np.concatenate([getattr(rows, f), getattr(fresh, f)])
                for f in ("key", "value", "mai", "rationale")
            )
        )
        run.quarters[new] = merged.take(np.argsort(merged.key, kind="stable"))
    if logs:
        log = pd.concat(logs, ignore_index=True)
        run.log = log.sort_values(
            ["quarter", "key", "event", "field"], kind="stable", ignore_index=True
        )
    return run


def _log_frame(
    run: MueRun,
    quarter: str,
    keys: np.ndarray,
    event: str,
    fld: str,
    old_v: np.ndarray,
    new_v: np.ndarray,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "quarter": quarter,
            "key": run.key_text(keys).astype(object),
            "event": event,
            "field": fld,
            "old_value": np.asarray(old_v, dtype=object),
            "new_value": np.asarray(new_v, dtype=object),
            "date": "",
        },
        columns=list(LOG_COLUMNS),
    )


def render_mue(run: MueRun, quarter: str, table: str, quoted_newline: str = "\n") -> bytes:
    """One table's CSV bytes (UTF-8, CRLF records): notice, header, rows sorted by code.

    `quoted_newline` is the line break inside the quoted notice and header cells: LF, as a
    spreadsheet's CSV export writes a line break typed in a cell, or "\r\n"."""
    rows = run.quarters[quarter]
    n = len(run.codes)
    t = MUE_TABLES.index(table)
    rows = rows.take(np.flatnonzero(rows.key // n == t))
    notice = MUE_NOTICE.format(year=parse_quarter(quarter)[0] - 1).replace('"', '""')
    notice = notice.replace("\n", quoted_newline)
    head = (
        f'"{notice}",,,\r\n'
        f'"HCPCS/{quoted_newline}CPT Code","{MUE_VALUE_HEADER[table]}",'
        '"MUE Adjudication Indicator","MUE Rationale"\r\n'
    )
    mai = pa.array([f'"{m}"' for m in MAI_TEXT], pa.large_string())
    rationale = pa.array([f'"{r}"\r\n' for r in MUE_RATIONALES], pa.large_string())
    line = pc.binary_join_element_wise(
        pa.array(run.codes, pa.large_string()).take(pa.array(rows.key % n)),
        _text(rows.value),
        mai.take(pa.array(rows.mai)),
        rationale.take(pa.array(rows.rationale)),
        pa.scalar(",", pa.large_string()),
    )
    return head.encode("utf-8") + bytes(_buffer(line))


def write_mue_release(
    run: MueRun, quarter: str, out_dir: Path, *, zipped: bool = False, quoted_newline: str = "\n"
) -> Path:
    """Write the quarter's three CSVs (or one zip each, with a stand-in xlsx) into `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for table in MUE_TABLES:
        name = mue_file_name(table, quarter)
        data = render_mue(run, quarter, table, quoted_newline)
        if zipped:
            xlsx = stand_in_xlsx(f"Synthetic stand-in for {name}")
            _write_zip(
                out_dir / mue_zip_name(table, quarter),
                [(name, data), (name.replace(".csv", ".xlsx"), xlsx)],
                quarter_start(quarter),
            )
        else:
            (out_dir / name).write_bytes(data)
    return out_dir


def mue_expected_changes(run: MueRun, old: str, new: str) -> pd.DataFrame:
    """The change rows codecatalog computes from `old` to the next quarter `new`."""
    day = quarter_start(new)
    out: list[tuple[str, str, str | None, str | None, str | None, date]] = []
    for _, key, event, fld, old_value, new_value, _when in _log_rows(
        _log_step(run.log, list(run.quarters), old, new)
    ):
        if event == "added":
            out.append((key, "added", None, None, None, day))
        elif event == "vanished":
            out.append((key, "retired", None, None, None, day))
        else:
            out.append((key, "attribute_changed", fld, old_value, new_value, day))
    return _changes_frame(out)


def generate_mue(
    out_dir: Path,
    codes: int = 18_000,
    seed: int = 0,
    quarters: Sequence[str] = ("2026Q1", "2026Q2"),
    *,
    zipped: bool = False,
) -> list[Path]:
    """Write `out_dir/ncci-mue-<quarter>/` per quarter plus the truth files."""
    out_dir = Path(out_dir)
    run = mue_run(codes, seed, quarters)
    dirs = [
        write_mue_release(run, q, out_dir / f"ncci-mue-{q}", zipped=zipped) for q in run.quarters
    ]
    _write_truth(out_dir / "truth", "mue", run.log, list(run.quarters),
                 lambda a, b: mue_expected_changes(run, a, b))  # fmt: skip
    return dirs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="what", required=True)
    ncci = sub.add_parser("ncci", help="NCCI PTP releases")
    ncci.add_argument("out", type=Path)
    ncci.add_argument("--rows", type=int, default=5_000_000, help="lines of the first quarter")
    ncci.add_argument("--bare", action="store_true", help="bare .txt files instead of zips")
    mue = sub.add_parser("mue", help="NCCI MUE releases")
    mue.add_argument("out", type=Path)
    mue.add_argument("--codes", type=int, default=18_000, help="codes per table")
    mue.add_argument("--zip", action="store_true", help="zip each CSV as CMS does")
    for p in (ncci, mue):
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--quarters", nargs="+", default=["2026Q1", "2026Q2"])
    args = parser.parse_args(argv)
    if args.what == "ncci":
        dirs = generate_ptp(args.out, args.rows, args.seed, args.quarters, zipped=not args.bare)
    else:
        dirs = generate_mue(args.out, args.codes, args.seed, args.quarters, zipped=args.zip)
    for d in dirs:
        print(d)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
