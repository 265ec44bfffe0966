"""Write fee_schedule.csv and fee_schedule.xlsx: one invented practice fee schedule, 50 codes.

The codes were picked from the synthetic CPT releases of `codecatalog.samples` (seed 0, the
`samples` fixture) and its truth files: 26 unchanged from 2024 to 2026, 8 revised in 2026, one
reactivated and one added in 2026, 6 retired in 2026, 2 retired in 2025, 2 CPT-shaped codes in no
loaded release, 2 HCPCS codes, a CDT code and a malformed one. Charge ids, descriptions,
departments and fees are invented here; no code set text. Both files hold the same rows on the
same lines (a title row, a blank row, the header on line 3); the workbook stores all-digit codes
as numbers, as Excel does (00350 becomes 350). Run from this folder:
`python make_practice.py`.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import openpyxl

CODES = [
    "75774", "99341", "60777", "43429", "22072", "30163", "00350", "55206", "82183", "75863",
    "98711", "1244F", "5446F", "89165", "99437", "0236U", "61748", "27452", "73655", "68712",
    "25238", "27294", "38721", "0333F", "17266", "20942",  # unchanged 2024-2026
    "83069", "98379", "1716F", "78473", "64157", "0209U", "0085U", "45203",  # revised in 2026
    "85416",  # reactivated in 2026
    "14813",  # added in 2026
    "91060", "25039", "95950", "51341", "0161T", "31152",  # retired in 2026
    "21265", "48826",  # retired in 2025
    "00136", "99999",  # in no loaded release
    "J1100", "G0202",  # HCPCS
    "D0120", "ABC1",  # CDT; malformed
]  # fmt: skip
DEPARTMENTS = ["Clinic", "Imaging", "Laboratory", "Surgery", "Therapy"]
HEADER = ["Charge ID", "CPT/HCPCS", "Description", "Department", "Fee"]
TITLE = "Riverside Family Practice - fee schedule (invented for tests)"


def rows() -> list[list[object]]:
    rng = random.Random(9)
    codes = CODES[:]
    rng.shuffle(codes)
    out: list[list[object]] = []
    for i, code in enumerate(codes, start=1):
        dept = rng.choice(DEPARTMENTS)
        fee = round(rng.uniform(15, 900), 2)
        out.append([f"CHG-{1000 + i}", code, f"{dept} charge item {i:03d}", dept, fee])
    return out


def main() -> None:
    here = Path(__file__).parent
    data = rows()
    with open(here / "fee_schedule.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow([TITLE, "", "", "", ""])
        w.writerow([])
        w.writerow(HEADER)
        w.writerows(data)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Fees"
    ws.append([TITLE])
    ws.append([])
    ws.append(HEADER)
    for row in data:
        code = str(row[1])
        ws.append([row[0], int(code) if code.isdigit() else code, *row[2:]])
    wb.save(here / "fee_schedule.xlsx")


if __name__ == "__main__":
    main()
