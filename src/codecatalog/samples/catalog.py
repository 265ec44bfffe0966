"""The evolving code set: live and deleted records, history rows and new-record creation."""

from __future__ import annotations

import random
from collections.abc import Sequence

from codecatalog.samples.abbrev import MEDIUM_WIDTH, SHORT_WIDTH, abbrev
from codecatalog.samples.codes import CAT_I, CATS, SEQUENTIAL, Code, fmt, hist_date, iso
from codecatalog.samples.descriptors import clin_text, describe
from codecatalog.samples.service_words import LABS, MAKERS, TEST_A, TEST_B, TEST_C, TEST_D
from codecatalog.samples.words import POPULATION


class Catalog:
    """All codes ever issued, driven by one seeded random stream shared by every step."""

    def __init__(self, years: Sequence[int], seed: int) -> None:
        self.rng = random.Random(seed)
        self.years = list(years)
        self.state: dict[str, Code] = {}
        self.deleted: dict[str, tuple[Code, str, str]] = {}  # code -> (record, date, instr)
        self.history: list[tuple[str, str, str, str, str, str, str, str]] = []
        self.concepts: set[int] = set()
        self.next_clin = 10_000_000 + self.rng.randrange(50_000)
        self.pools: dict[str, list[int]] = {}
        self.pre_deleted: list[str] = []
        self.retired_prev: list[str] = []
        self.truth: dict[tuple[int, int], list[tuple[str, str, str, str, str, str]]] = {}

    def new_code(self, cat: str, code: str, added: str) -> Code:
        """A fresh record with a unique concept id and invented descriptors."""
        r = self.rng
        concept = r.randrange(1_000_000, 10_000_000)
        while concept in self.concepts:
            concept = r.randrange(1_000_000, 10_000_000)
        self.concepts.add(concept)
        long, consumer, clin_base = describe(r, cat)
        level = r.choices("1234", weights=(50, 30, 15, 5))[0] if cat in CAT_I else "1"
        rec = Code(
            code,
            cat,
            concept,
            level,
            long,
            abbrev(long, MEDIUM_WIDTH, False),
            abbrev(long, SHORT_WIDTH, True),
            consumer,
            clin_base,
        )
        if clin_base:
            for pop in r.sample(POPULATION, r.randint(1, 4)):
                rec.clinicians.append([self.clin_id(), clin_text(clin_base, pop)])
        if cat == "pla":
            eff_y, eff_m = int(added[:4]), int(added[4:6])
            pub_y, pub_m = (eff_y, eff_m - 3) if eff_m > 3 else (eff_y - 1, eff_m + 9)
            rec.pla = {
                "effective": iso(eff_y, eff_m),
                "publish": iso(pub_y, pub_m),
                "lab": r.choice(LABS),
                "maker": r.choice(MAKERS),
                "test": self.test_name(),
                "omit_consumer": "1" if r.random() < 0.1 else "",
            }
        return rec

    def test_name(self) -> str:
        """An invented proprietary test name."""
        r = self.rng
        return f"{r.choice(TEST_A)}{r.choice(TEST_B)}{r.choice(TEST_C)} {r.choice(TEST_D)}"

    def clin_id(self) -> int:
        """The next clinician descriptor id."""
        self.next_clin += self.rng.randint(1, 3)
        return self.next_clin

    def build_first(self) -> None:
        """Issue the first year's codes, the codes deleted before it, and the free-number pools."""
        r, y0 = self.rng, self.years[0]
        for cat, lo, hi, suffix, n_init, n_pre, _ in CATS:
            nums = list(range(lo, hi + 1))
            if cat in SEQUENTIAL:
                head_n = min(len(nums), n_init + n_pre + max(1, n_init // 20))
                head, tail = nums[:head_n], nums[head_n:]
                r.shuffle(head)
            else:
                r.shuffle(nums)
                head, tail = nums, nums[n_init + n_pre :]
                tail.reverse()  # pools pop from the end
            init = sorted(head[:n_init])
            pre = sorted(head[n_init : n_init + n_pre])
            self.pools[cat] = tail[::-1] if cat in SEQUENTIAL else tail
            for num in init:
                code = fmt(num, suffix)
                date = hist_date(r, cat, y0 - 1)
                rec = self.new_code(cat, code, date)
                self.state[code] = rec
                self.history.append(
                    (date, "ADDED", str(rec.concept), code, rec.level, "", rec.long, "")
                )
            same_cat = [fmt(num, suffix) for num in init]
            for num in pre:
                code = fmt(num, suffix)
                added = hist_date(r, cat, y0 - 2)
                rec = self.new_code(cat, code, added)
                start = 1989 if added == "Pre-1990" else int(added[:4])
                if added == "Pre-1990" and r.random() < 0.15:
                    gone = "Pre-1990"
                else:
                    gone = f"{r.randint(min(start + 1, y0 - 1), y0 - 1)}0101"
                instr = self.instruction(same_cat)
                self.deleted[code] = (rec, gone, instr)
                self.pre_deleted.append(code)
                self.history.append(
                    (added, "ADDED", str(rec.concept), code, rec.level, "", rec.long, "")
                )
                self.history.append(
                    (gone, "DELETED", str(rec.concept), code, rec.level, rec.long, "", instr)
                )
        self.pre_deleted.sort()

    def instruction(self, targets: Sequence[str]) -> str:
        """A deletion instruction pointing at one of ``targets``, or none."""
        if not targets or self.rng.random() < 0.3:
            return ""
        return f"Code deleted. To report, see {self.rng.choice(targets)}"
