"""One year-over-year transition: the edit plan and its ground-truth change rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from codecatalog.samples.abbrev import MEDIUM_WIDTH, SHORT_WIDTH, abbrev, abbrev_words
from codecatalog.samples.catalog import Catalog
from codecatalog.samples.codes import CATS, Code, fmt
from codecatalog.samples.descriptors import clin_text
from codecatalog.samples.rewrite import EDITORIAL_KINDS, editorial, revise, symbol_swap
from codecatalog.samples.service_words import LABS, MAKERS
from codecatalog.samples.words import POPULATION


def transition(catalog: Catalog, y0: int, y1: int) -> None:
    """Move ``catalog`` from release ``y0`` to ``y1`` and record the ground truth for the step."""
    r = catalog.rng
    rows: list[tuple[str, str, str, str, str, str]] = []
    used: set[str] = set()
    date = f"{y1}0101"

    def log(key: str, ctype: str, fld: str = "", old: str = "", new: str = "") -> None:
        action = {"added": "ADDED", "reactivated": "ADDED", "retired": "DELETED"}
        rows.append((key, ctype, fld, old, new, action.get(ctype, "")))

    def bring_back(code: str) -> None:
        rec = catalog.deleted.pop(code)[0]
        catalog.state[code] = rec
        used.add(code)
        catalog.history.append((date, "ADDED", str(rec.concept), code, rec.level, "", rec.long, ""))
        log(code, "reactivated")

    bring_back(r.choice([c for c in catalog.pre_deleted if c in catalog.deleted]))
    back = [c for c in catalog.retired_prev if c in catalog.deleted]
    if back:
        bring_back(r.choice(back))

    for cat, _, _, suffix, _, _, n_add in CATS:
        pool = catalog.pools[cat]
        for _ in range(min(n_add, len(pool))):
            code = fmt(pool.pop(), suffix)
            added = date
            if cat == "pla":
                added = f"{y1 - 1}{r.choice((4, 7, 10)):02d}01"
            rec = catalog.new_code(cat, code, added)
            catalog.state[code] = rec
            used.add(code)
            catalog.history.append(
                (date, "ADDED", str(rec.concept), code, rec.level, "", rec.long, "")
            )
            log(code, "added")

    codes = sorted(catalog.state)
    retire = sorted(r.sample([c for c in codes if c not in used], 100))
    used.update(retire)
    by_cat: dict[str, list[str]] = {}
    for c in codes:
        if c not in used:
            by_cat.setdefault(catalog.state[c].cat, []).append(c)
    for code in retire:
        rec = catalog.state.pop(code)
        instr = catalog.instruction(by_cat.get(rec.cat, []))
        catalog.deleted[code] = (rec, date, instr)
        catalog.history.append(
            (date, "DELETED", str(rec.concept), code, rec.level, rec.long, "", instr)
        )
        log(code, "retired")
    catalog.retired_prev = retire
    codes = sorted(catalog.state)

    def apply(n: int, pred: Callable[[Code], bool], fn: Callable[[Code], bool]) -> None:
        cands = [c for c in codes if c not in used and pred(catalog.state[c])]
        r.shuffle(cands)
        done = 0
        for c in cands:
            if done >= n:
                break
            if fn(catalog.state[c]):
                used.add(c)
                done += 1

    def edit_text(
        kind: str,
        attr: str,
        fname: str,
        limit: int | None = None,
        kinds: Sequence[str] = EDITORIAL_KINDS,
    ) -> Callable[[Code], bool]:
        def fn(rec: Code) -> bool:
            old = getattr(rec, attr)
            new = (
                revise(old, r, limit)
                if kind == "descriptor_revised"
                else editorial(old, r, limit, plain=attr in ("medium", "short"), kinds=kinds)
            )
            if new is None:
                return False
            setattr(rec, attr, new)
            log(rec.code, kind, fname, old, new)
            return True

        return fn

    def long_with_abbrevs(rec: Code) -> bool:
        if not edit_text("descriptor_revised", "long", "long_descriptor")(rec):
            return False
        for attr, width, short in (
            ("medium", MEDIUM_WIDTH, False),
            ("short", SHORT_WIDTH, True),
        ):
            # Only an abbreviation that now names other words follows the revised long text.
            old, new = getattr(rec, attr), abbrev(rec.long, width, short)
            if abbrev_words(new) != abbrev_words(old):
                setattr(rec, attr, new)
                log(rec.code, "descriptor_revised", f"{attr}_descriptor", old, new)
        return True

    def symbol(rec: Code) -> bool:
        new = symbol_swap(rec.long, r)
        if new is None:
            return False
        log(rec.code, "descriptor_revised", "long_descriptor", rec.long, new)
        rec.long = new
        return True

    def clin_edit(kind: str) -> Callable[[Code], bool]:
        def fn(rec: Code) -> bool:
            pair = r.choice(rec.clinicians)
            new = revise(pair[1], r) if kind == "descriptor_revised" else editorial(pair[1], r)
            if new is None or any(new == t for _, t in rec.clinicians):
                return False
            log(rec.code, kind, f"clinician_descriptor:{pair[0]}", pair[1], new)
            pair[1] = new
            return True

        return fn

    def clin_add(rec: Code) -> bool:
        have = {t for _, t in rec.clinicians}
        texts = [clin_text(rec.clin_base or "", p) for p in POPULATION]
        texts = [t for t in texts if t not in have]
        if not texts or len(rec.clinicians) >= 4:
            return False
        cid, text = catalog.clin_id(), r.choice(texts)
        rec.clinicians.append([cid, text])
        log(rec.code, "descriptor_revised", f"clinician_descriptor:{cid}", "", text)
        return True

    def clin_remove(rec: Code) -> bool:
        if len(rec.clinicians) < 2:
            return False
        cid, text = rec.clinicians.pop(r.randrange(1, len(rec.clinicians)))
        log(rec.code, "descriptor_revised", f"clinician_descriptor:{cid}", text, "")
        return True

    def pla_attr(key: str, fname: str, choices: Callable[[], str]) -> Callable[[Code], bool]:
        def fn(rec: Code) -> bool:
            assert rec.pla is not None
            old, new = rec.pla[key], choices()
            if new == old:
                return False
            rec.pla[key] = new
            log(rec.code, "attribute_changed", fname, old, new)
            return True

        return fn

    def any_code(rec: Code) -> bool:
        return True

    def has_desc(rec: Code) -> bool:
        return rec.consumer is not None

    def is_pla(rec: Code) -> bool:
        return rec.pla is not None

    rev, ed = "descriptor_revised", "descriptor_editorial"
    apply(6, any_code, symbol)
    apply(37, any_code, long_with_abbrevs)
    apply(37, any_code, edit_text(rev, "long", "long_descriptor"))
    apply(10, any_code, edit_text(rev, "medium", "medium_descriptor", MEDIUM_WIDTH))
    apply(10, any_code, edit_text(rev, "short", "short_descriptor", SHORT_WIDTH))
    apply(20, has_desc, edit_text(rev, "consumer", "consumer_descriptor"))
    apply(30, has_desc, clin_edit(rev))
    apply(10, has_desc, clin_add)
    apply(5, has_desc, clin_remove)
    apply(30, any_code, edit_text(ed, "long", "long_descriptor"))
    apply(10, has_desc, edit_text(ed, "consumer", "consumer_descriptor"))
    apply(10, has_desc, clin_edit(ed))
    apply(5, any_code, edit_text(ed, "medium", "medium_descriptor", MEDIUM_WIDTH))
    typographic = ("typographic",)
    apply(4, any_code, edit_text(ed, "long", "long_descriptor", kinds=typographic))
    apply(3, has_desc, edit_text(ed, "consumer", "consumer_descriptor", kinds=typographic))
    apply(10, is_pla, pla_attr("lab", "pla_lab_name", lambda: r.choice(LABS)))
    apply(5, is_pla, pla_attr("maker", "pla_manufacturer_name", lambda: r.choice(MAKERS)))
    apply(5, is_pla, pla_attr("test", "pla_test_name", catalog.test_name))
    catalog.truth[(y0, y1)] = sorted(rows)
