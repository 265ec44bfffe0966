"""Synthetic AMA CPT releases with a ground-truth change log, for tests and demos.

Every descriptor, name, identifier and date produced here is invented from the word lists in
this module; nothing is copied from any published code set. Only the file layouts and the
numeric code ranges imitate the real distribution.
"""

from __future__ import annotations

import csv
import itertools
import json
import random
import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

__all__ = ["CHANGE_TYPES", "TRUTH_HEADER", "generate_releases"]

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
MEDIUM_WIDTH = 48
SHORT_WIDTH = 28

# key, first number, last number, suffix, initial count, pre-first-year deletions, adds per year
_CATS = (
    ("anes", 100, 1999, "", 280, 5, 5),
    ("surg", 10004, 69990, "", 6000, 80, 95),
    ("rad", 70010, 79999, "", 950, 15, 15),
    ("lab", 80047, 89398, "", 1150, 20, 20),
    ("med", 90281, 99199, "", 900, 12, 15),
    ("em", 99202, 99499, "", 200, 5, 3),
    ("cat2", 1, 9007, "F", 500, 5, 10),
    ("cat3", 42, 950, "T", 400, 6, 20),
    ("pla", 1, 500, "U", 400, 2, 15),
    ("vacc", 1, 150, "A", 40, 0, 2),
    ("maaa", 1, 20, "M", 13, 0, 1),
)
_CAT_I = {"anes", "surg", "rad", "lab", "med", "em"}
_SEQUENTIAL = {"cat3", "pla", "vacc", "maaa"}  # new codes take the next free numbers
_FIRST_YEAR = {"cat2": 2004, "cat3": 2002, "pla": 2016, "vacc": 2020, "maaa": 2013}
_QUARTERLY = {"pla", "vacc"}

# ---------------------------------------------------------------- invented word lists
_ADJ = (
    "vellicular",
    "quandral",
    "sarpine",
    "orvalic",
    "trelline",
    "mesoquent",
    "caldrine",
    "pellucine",
    "fornaxial",
    "varrowic",
    "sibrant",
    "tenvic",
    "obrelline",
    "cassimal",
    "drovian",
    "lunquel",
    "marrowine",
    "plessic",
    "ruvantal",
    "zestral",
)
_STRUCT = (
    "fascia",
    "tendon sheath",
    "capsule",
    "recess",
    "plexus",
    "ligament",
    "duct",
    "membrane",
    "canal",
    "septum",
    "sinus",
    "node",
    "bursa",
    "lamina",
    "cortex",
    "sulcus",
    "fold",
    "pouch",
    "ridge",
    "arch",
)
_SIDE = (
    "anterior",
    "posterior",
    "lateral",
    "medial",
    "superior",
    "inferior",
    "deep",
    "superficial",
)
_EPONYM = (
    "Vélinard",
    "Müllner",
    "Dufrène",
    "Kühlberg",
    "Brévault",
    "Lüdtmann",
    "Ferréol",
    "Söderin",
)
_SURG_PROC = (
    ("Excision", "Removal"),
    ("Incision and drainage", "Drainage"),
    ("Repair", "Repair"),
    ("Reconstruction", "Rebuilding"),
    ("Biopsy", "Tissue sampling"),
    ("Destruction", "Destruction"),
    ("Ablation", "Heat treatment"),
    ("Resection", "Surgical removal"),
    ("Fixation", "Securing"),
    ("Release", "Loosening"),
    ("Debridement", "Cleaning"),
    ("Arthrodesis", "Joint fusion"),
    ("Transposition", "Relocation"),
    ("Lavage", "Washout"),
    ("Stabilization", "Stabilization"),
    ("Closure", "Closure"),
    ("Revision", "Repeat surgery"),
    ("Aspiration", "Fluid drawing"),
    ("Grafting", "Tissue transfer"),
    ("Decompression", "Pressure relief"),
    ("Exploration", "Examination"),
    ("Plication", "Tightening"),
    ("Ligation", "Tie-off"),
    ("Dilation", "Widening"),
    ("Removal of foreign body", "Object removal"),
    ("Insertion of drainage catheter", "Drain placement"),
    ("Implantation of stimulator lead", "Stimulator wire placement"),
)
_APPROACH = (
    ("open approach", "through an incision"),
    ("percutaneous approach", "through the skin"),
    ("endoscopic approach", "using a scope"),
    ("laparoscopic approach", "through small cuts"),
    ("via transcutaneous port", "through a port"),
    ("with image guidance", "with imaging help"),
    ("robot-assisted", "with a robot"),
    ("via vellicular tunnel", "through a tunnel"),
)
_SURG_QUAL = (
    "single lesion",
    "1-5 lesions",
    "6-10 lesions",
    ">10 lesions",
    "each additional 2.5 cm",
    "<50 mL",
    ">=50 mL",
    "up to 2 cm",
    ">2 cm",
    "with graft",
    "without graft",
    "unilateral",
    "bilateral",
    "initial",
    "subsequent",
    "complex",
    "simple",
    "<4 cm diameter",
    "including drain/stent placement",
    "age <5 years",
    "age >=5 years",
    "with fluoroscopic/ultrasound guidance",
    "each additional segment",
    "with 3+ fixation points",
    "grade 2+ instability",
    "10%-25% of surface area",
    "with 1.5 mm anchor",
)
_ANES_QUAL = (
    "not otherwise specified",
    "patient age <1 year",
    "prone position",
    "with pump oxygenator",
    "duration >=4 hours",
    "with controlled hypotension",
    "emergency conditions",
    "second stage",
)
_RAD_MOD = (
    ("Magnetic resonance imaging", "MRI scan"),
    ("Computed tomography", "CT scan"),
    ("Ultrasound examination", "Ultrasound"),
    ("Radiographic examination", "X-ray"),
    ("Nuclear scintigraphy", "Nuclear scan"),
    ("Fluoroscopic study", "Live X-ray study"),
    ("Positron emission imaging", "PET scan"),
    ("Densitometry", "Density scan"),
)
_RAD_QUAL = (
    "without contrast material",
    "with contrast material",
    "without contrast material, followed by contrast material",
    "2 views",
    ">=3 views",
    "limited",
    "complete",
    "with 3D rendering",
    "<15 minutes fluoroscopy time",
    "single plane",
)
_LAB_METHOD = (
    "quantitative",
    "qualitative",
    "by immunoassay",
    "by mass spectrometry, 1-3 analytes",
    "by chromatography, >=4 analytes",
    "free and total",
    "ratio",
    "% saturation",
    "in urine, 24-hour collection",
    "in blood, <2 mL specimen",
)
_SYL_A = ("ven", "tor", "qua", "ser", "lom", "dra", "fen", "kor", "mal", "pyr", "zan", "ost", "bel")
_SYL_B = ("a", "o", "i", "e", "u", "ari", "eno")
_SYL_C = ("lin", "lase", "statin", "globin", "peptide", "sterone", "amine", "ozyme", "ulin", "ogen")
_MED_SERV = (
    ("Physiologic monitoring", "Body function monitoring"),
    ("Therapeutic infusion", "Infusion"),
    ("Rehabilitation session", "Rehab session"),
    ("Audiometric testing", "Hearing test"),
    ("Cardiac rhythm assessment", "Heart rhythm check"),
    ("Psychometric evaluation", "Mental health testing"),
    ("Ophthalmic examination", "Eye exam"),
    ("Pulmonary function study", "Breathing test"),
    ("Neuromuscular stimulation", "Nerve and muscle stimulation"),
    ("Allergen challenge testing", "Allergy test"),
)
_MED_DETAIL = (
    "each 15 minutes",
    "first hour",
    ">=30 minutes",
    "per day",
    "with interpretation and report",
    "up to 8 hours",
    "initial session",
    "<20 minutes",
    "2-4 sessions per week",
)
_EM_SETTING = (
    ("Clinic", "Clinic"),
    ("Home-based", "Home"),
    ("Residential facility", "Care home"),
    ("Telepresence", "Video"),
    ("Observation unit", "Observation"),
    ("Inpatient ward", "Hospital"),
)
_CAT2_THING = (
    "risk assessment",
    "symptom score",
    "screening result",
    "medication review",
    "follow-up plan",
    "functional status survey",
    "counseling session",
    "care transition note",
)
_CAT2_OUTCOME = (
    "documented",
    "reviewed and documented",
    "not performed for medical reasons",
    "completed, score >=10",
    "completed, score <10",
    "result <7.0%",
    "result >=9.0%",
)
_CAT3_TECH = (
    "pulsed ultrasonic energy",
    "bioresorbable scaffold",
    "cryothermal probe",
    "optical coherence mapping",
    "algorithmic image analysis",
    "magnetic microbead tracking",
    "photonic ablation fiber",
)
_DISEASE = ("carcinoma", "neoplasia", "cardiomyopathy", "fibrosis", "syndrome", "neuropathy")
_PLA_METHOD = (
    "next-generation sequencing",
    "digital PCR",
    "methylation profiling",
    "RNA expression profiling",
    "proteomic profiling",
)
_SPECIMEN = ("plasma", "tissue", "whole blood", "buccal swab", "urine")
_PLA_REPORT = (
    "reported as positive/negative",
    "reported as risk score",
    "reported as % probability",
    "reported as >=90% confidence call",
)
_LABS = (
    "Norvale Diagnostics Laboratory",
    "Quintara Genomics",
    "Halberd & Finch Clinical Labs",
    "Meridane Molecular Services",
    "Ostrava Precision Lab",
    "Calloway-Rhee Reference Laboratory",
    "Brightwater Oncology Lab",
    "Sundmark Diagnostics",
    "Pellucine Health Laboratories",
    "Tarrow Valley Genetics",
)
_MAKERS = (
    "Quintara Genomics, Inc.",
    "Velorix Biotech",
    "Arden & Pike Instruments",
    "Corvane Sciences",
    "Lumeth Bio LLC",
    "Ostrava Precision Lab",
    "Nivaro Molecular",
)
_TEST_A = ("Onco", "Cardio", "Neuro", "Gene", "Fibro", "Immuno", "Hepa", "Reno")
_TEST_B = ("Vantage", "Trace", "Scope", "Clarity", "Signal", "Map", "Sight")
_TEST_C = ("®", "™", "", "")
_TEST_D = ("Panel", "Assay", "Test", "Profile", "Dx")
_POPULATION = (
    "adult patient",
    "pediatric patient",
    "patient with prior surgery",
    "patient with recurrent condition",
    "elderly patient",
    "patient with implanted device",
)
_SWAP_WORDS = (
    "extended",
    "limited",
    "staged",
    "targeted",
    "partial",
    "complete",
    "primary",
    "secondary",
    "adjunctive",
    "modified",
    "radical",
    "expanded",
)
_PREAMBLE = (
    (
        "Synthetic CPT® {year} {label} generated by codecatalog for software testing.",
        "All descriptors, identifiers and dates in this file are invented.",
    ),
    (
        "This file imitates the layout of a licensed distribution file only and must not be used",
        "for billing, coding or any clinical purpose.",
    ),
    (
        "Code numbers were drawn at random from the numeric ranges; any resemblance of a",
        "descriptor to real code set text is coincidental.",
    ),
    ("Questions about this fixture belong in the codecatalog test suite.",),
)
_ABBR = {
    "without": "W/O",
    "with": "W/",
    "and": "&",
    "additional": "ADDL",
    "approach": "APPR",
    "percutaneous": "PERQ",
    "endoscopic": "NDSC",
    "laparoscopic": "LAPS",
    "imaging": "IMG",
    "guidance": "GDN",
    "lesions": "LES",
    "lesion": "LES",
    "minutes": "MIN",
    "anesthesia": "ANES",
    "examination": "EXAM",
    "contrast": "CNTRST",
    "material": "MATRL",
    "patient": "PT",
    "years": "YR",
    "diameter": "DIAM",
    "magnetic": "MAG",
    "resonance": "RES",
    "computed": "CMPT",
    "tomography": "TOMOG",
    "ultrasound": "US",
    "analysis": "ALYS",
    "reported": "RPTD",
    "assessment": "ASMT",
    "each": "EA",
    "including": "INCL",
    "placement": "PLMT",
    "bilateral": "BI",
    "unilateral": "UNI",
    "vaccine": "VAC",
    "administration": "ADMN",
}
_DROP = {"of", "the", "a", "an", "for", "by", "in", "to", "as", "using", "via"}

_COMMA_BEFORE = re.compile(r"(?i)(?:with|without|in|using|including|under|through|reported|for) ")
_EDITORIAL_RE = re.compile(r"(?<!\d)[,;:.()\[\]\"'!?](?!\d)")


def _norm(text: str) -> str:
    """Text with editorial differences (case, whitespace, non-numeric punctuation) removed."""
    return " ".join(_EDITORIAL_RE.sub("", text).lower().split())


def _abbrev(text: str, limit: int, short: bool) -> str:
    """Upper-case ASCII abbreviation of a long descriptor, cut at a word boundary."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = []
    for tok in plain.replace(";", ",").replace("(", "").replace(")", "").split():
        trail = "," if tok.endswith(",") and not short else ""
        core = tok.rstrip(",")
        if not core or core.lower() in _DROP:
            continue
        word = _ABBR.get(core.lower(), core.upper())
        if word.isalpha() and len(word) > (6 if short else 10):
            word = word[: 5 if short else 8]
        words.append(word + trail)
    result = ""
    for word in words:
        cand = f"{result} {word}" if result else word
        if len(cand) > limit:
            break
        result = cand
    return (result or words[0][:limit]).rstrip(",;:. ")


def _match_case(word: str, like: str) -> str:
    if like.isupper():
        return word.upper()
    return word.capitalize() if like[0].isupper() else word


def _revise(text: str, rng: random.Random, limit: int | None = None) -> str | None:
    """A meaning-bearing edit: change a number, or replace, insert or delete a word."""
    upper = text.upper() == text
    for _ in range(8):
        op = rng.choice(("number", "replace", "insert", "delete"))
        new = None
        if op == "number" and (nums := list(re.finditer(r"\d+", text))):
            m = rng.choice(nums)
            new = text[: m.start()] + str(int(m.group()) + rng.randint(1, 4)) + text[m.end() :]
        elif op == "replace" and (ws := list(re.finditer(r"\b[A-Za-z]{4,}\b", text))):
            m = rng.choice(ws)
            rep = _match_case(rng.choice(_SWAP_WORDS), m.group())
            new = text[: m.start()] + rep + text[m.end() :]
        elif op == "insert" and (
            sp := [m.end() for m in re.finditer(r"\b(?:of|the|OF) ", text)]
            or [i + 1 for i, ch in enumerate(text) if ch == " "]
        ):
            i = rng.choice(sp)
            word = rng.choice(_SWAP_WORDS)
            new = text[:i] + (word.upper() if upper else word) + " " + text[i:]
        elif op == "delete" and (ws := list(re.finditer(r"(?<= )[A-Za-z]{4,}(?= )", text))):
            m = rng.choice(ws)
            new = text[: m.start() - 1] + text[m.end() :]
        if (
            new
            and new != text
            and _norm(new) != _norm(text)
            and new == new.strip()
            and (limit is None or len(new) <= limit)
        ):
            return new
    return None


def _symbol_swap(text: str, rng: random.Random) -> str | None:
    """A symbol-only meaning-bearing edit: `<` to `<=`, `>` to `>=`, or `+` to `-`."""
    spots = [m for m in re.finditer(r"[<>](?!=)|\+", text)]
    if not spots:
        return None
    m = rng.choice(spots)
    rep = "-" if m.group() == "+" else m.group() + "="
    return text[: m.start()] + rep + text[m.end() :]


def _editorial(text: str, rng: random.Random, limit: int | None = None) -> str | None:
    """An editorial edit: case of one word, a doubled space, or a comma/semicolon/period."""
    n = len(text)
    cands: list[str] = []
    if text.upper() != text:
        for m in re.finditer(r"(?<![\w<>=+%/-])[A-Za-z]{3,}(?![\w<>=+%/-])", text):
            w = m.group()
            if w.islower():
                cands.append(text[: m.start()] + w.capitalize() + text[m.end() :])
            elif w[0].isupper() and w[1:].islower():
                cands.append(text[: m.start()] + w.lower() + text[m.end() :])
    for i in range(1, n - 1):
        a, ch, b = text[i - 1], text[i], text[i + 1]
        if ch == " " and a.isalpha() and b.isalpha():
            cands.append(text[:i] + "  " + text[i + 1 :])
            if _COMMA_BEFORE.match(text, i + 1):
                cands.append(text[:i] + "," + text[i:])
        elif ch in ",;" and a.isalpha() and b == " " and i + 2 < n and text[i + 2].isalpha():
            cands.append(text[:i] + text[i + 1 :])
    if text[-1].isalpha():
        cands.append(text + ".")
    elif text[-1] == "." and n > 1 and text[-2].isalpha():
        cands.append(text[:-1])
    cands = [c for c in cands if limit is None or len(c) <= limit]
    if not cands:
        return None
    new = rng.choice(cands)
    assert _norm(new) == _norm(text) and new != text
    return new


@dataclass
class _Code:
    code: str
    cat: str
    concept: int
    level: str
    long: str
    medium: str
    short: str
    consumer: str | None
    clin_base: str | None
    clinicians: list[list] = field(default_factory=list)  # [id, text] pairs, file order
    pla: dict[str, str] | None = None


class _Builder:
    def __init__(self, years: Sequence[int], seed: int) -> None:
        self.rng = random.Random(seed)
        self.years = list(years)
        self.state: dict[str, _Code] = {}
        self.deleted: dict[str, tuple[_Code, str, str]] = {}  # code -> (record, date, instr)
        self.history: list[tuple[str, str, str, str, str, str, str, str]] = []
        self.concepts: set[int] = set()
        self.next_clin = 10_000_000 + self.rng.randrange(50_000)
        self.pools: dict[str, list[int]] = {}
        self.pre_deleted: list[str] = []
        self.retired_prev: list[str] = []
        self.truth: dict[tuple[int, int], list[tuple[str, str, str, str, str, str]]] = {}

    # ------------------------------------------------------------ descriptors
    def _site(self) -> tuple[str, str]:
        r = self.rng
        adj, struct = r.choice(_ADJ), r.choice(_STRUCT)
        return f"{r.choice(_SIDE)} {adj} {struct}", f"{adj} {struct}"

    def _describe(self, cat: str) -> tuple[str, str | None, str | None]:
        """Invented (long, consumer, clinician base) texts for a code of category ``cat``."""
        r = self.rng
        site, lay_site = self._site()
        tech, lay = r.choice(_SURG_PROC)
        appr, lay_appr = r.choice(_APPROACH)
        if cat == "anes":
            long = f"Anesthesia for {tech.lower()} of {site}; {r.choice(_ANES_QUAL)}"
            return (
                long,
                f"Anesthesia during {lay.lower()} of the {lay_site}",
                f"Anesthesia care for {tech.lower()} of the {site}",
            )
        if cat in ("surg", "cat3"):
            qual = r.choice(_SURG_QUAL)
            if cat == "cat3":
                long = f"{tech} of {site} using {r.choice(_CAT3_TECH)}; {qual}"
            elif r.random() < 0.03:
                long = f"{tech} of {site} by {r.choice(_EPONYM)} technique, {appr}"
            else:
                long = r.choice(
                    (
                        f"{tech} of {site}, {appr}; {qual}",
                        f"{tech} of {site}; {qual}",
                        f"{tech}, {site}, {appr}",
                    )
                )
            return long, f"{lay} of the {lay_site} {lay_appr}", f"{tech} of the {site}, {appr}"
        if cat == "rad":
            mod, lay_mod = r.choice(_RAD_MOD)
            return (
                f"{mod}, {site}; {r.choice(_RAD_QUAL)}",
                f"{lay_mod} of the {lay_site}",
                f"{mod} of the {site} with interpretation",
            )
        if cat == "lab":
            name = (r.choice(_SYL_A) + r.choice(_SYL_B) + r.choice(_SYL_C)).capitalize()
            method = r.choice(_LAB_METHOD)
            return (
                f"{name} level; {method}",
                f"Test measuring {name.lower()} in a sample",
                f"Laboratory measurement of {name.lower()}, {method}",
            )
        if cat == "med":
            serv, lay_serv = r.choice(_MED_SERV)
            adj = r.choice(_ADJ)
            return (
                f"{serv} using {adj} protocol, {r.choice(_MED_DETAIL)}",
                f"{lay_serv} using a {adj} protocol",
                f"{serv} under the {adj} protocol",
            )
        if cat == "em":
            setting, lay_set = r.choice(_EM_SETTING)
            status = r.choice(("a new", "an established"))
            cx = r.choice(("minimal", "low", "moderate", "high"))
            mins = r.randrange(10, 80, 5)
            long = (
                f"{setting} assessment session for {status} patient, {cx} decision "
                f"complexity on the {r.choice(_ADJ)} scale; >={mins} minutes total time"
            )
            return (
                long,
                f"{lay_set} visit for {status} patient, {cx} complexity",
                f"{setting} assessment of {status} patient with {cx} complexity decisions",
            )
        if cat == "cat2":
            thing = f"{r.choice(_ADJ).capitalize()} {r.choice(_CAT2_THING)}"
            return f"{thing} {r.choice(_CAT2_OUTCOME)}", None, None
        disease = f"{r.choice(_ADJ)} {r.choice(_DISEASE)}"
        spec = r.choice(_SPECIMEN)
        if cat == "pla":
            genes = ", ".join(
                "".join(r.choices(string.ascii_uppercase, k=3)) + str(r.randint(1, 9))
                for _ in range(2)
            )
            n = r.randint(3, 500)
            long = (
                f"{disease.capitalize()} ({genes}), {r.choice(_PLA_METHOD)} analysis of {n} "
                f"genes, {spec}, {r.choice(_PLA_REPORT)}"
            )
            return (
                long,
                f"Genetic test of {n} genes in {spec} for {disease}",
                f"Molecular analysis of {n} genes in {spec} for {disease}",
            )
        if cat == "vacc":
            virus = f"{r.choice(_ADJ).capitalize()} virus type {r.randint(1, 40)}"
            dose = r.choice(("first", "second", "booster", "single"))
            amt = r.choice(("0.25", "0.3", "0.5"))
            return (
                f"{virus} vaccine administration, intramuscular, {dose} dose, {amt} mL",
                f"Shot to protect against {virus}, {dose} dose",
                f"Intramuscular {virus} vaccine administration, {dose} dose",
            )
        n = r.randint(3, 40)
        score = r.choice(("risk score", "likelihood category", "0-100 index"))
        return (
            f"{disease.capitalize()} risk algorithm using {n} biomarkers in {spec}, "
            f"reported as a {score}",
            f"Risk calculation for {disease} from a {spec} test",
            f"Algorithmic analysis of {n} biomarkers in {spec} for {disease}",
        )

    def _hist_date(self, cat: str, hi_year: int) -> str:
        r = self.rng
        if cat in _CAT_I and r.random() < 0.4:
            return "Pre-1990"
        year = r.randint(min(_FIRST_YEAR.get(cat, 1990), hi_year), hi_year)
        month = r.choice((1, 4, 7, 10)) if cat in _QUARTERLY and year < hi_year else 1
        return f"{year}{month:02d}01"

    def _new_code(self, cat: str, code: str, added: str) -> _Code:
        r = self.rng
        concept = r.randrange(1_000_000, 10_000_000)
        while concept in self.concepts:
            concept = r.randrange(1_000_000, 10_000_000)
        self.concepts.add(concept)
        long, consumer, clin_base = self._describe(cat)
        level = r.choices("1234", weights=(50, 30, 15, 5))[0] if cat in _CAT_I else "1"
        rec = _Code(
            code,
            cat,
            concept,
            level,
            long,
            _abbrev(long, MEDIUM_WIDTH, False),
            _abbrev(long, SHORT_WIDTH, True),
            consumer,
            clin_base,
        )
        if clin_base:
            for pop in r.sample(_POPULATION, r.randint(1, 4)):
                rec.clinicians.append([self._clin_id(), _clin_text(clin_base, pop)])
        if cat == "pla":
            eff_y, eff_m = int(added[:4]), int(added[4:6])
            pub_y, pub_m = (eff_y, eff_m - 3) if eff_m > 3 else (eff_y - 1, eff_m + 9)
            rec.pla = {
                "effective": _iso(eff_y, eff_m),
                "publish": _iso(pub_y, pub_m),
                "lab": r.choice(_LABS),
                "maker": r.choice(_MAKERS),
                "test": self._test_name(),
                "omit_consumer": "1" if r.random() < 0.1 else "",
            }
        return rec

    def _test_name(self) -> str:
        r = self.rng
        return f"{r.choice(_TEST_A)}{r.choice(_TEST_B)}{r.choice(_TEST_C)} {r.choice(_TEST_D)}"

    def _clin_id(self) -> int:
        self.next_clin += self.rng.randint(1, 3)
        return self.next_clin

    @staticmethod
    def _fmt(num: int, suffix: str) -> str:
        return f"{num:05d}" if not suffix else f"{num:04d}{suffix}"

    # ------------------------------------------------------------ first release
    def build_first(self) -> None:
        r, y0 = self.rng, self.years[0]
        for cat, lo, hi, suffix, n_init, n_pre, _ in _CATS:
            nums = list(range(lo, hi + 1))
            if cat in _SEQUENTIAL:
                head_n = min(len(nums), n_init + n_pre + max(1, n_init // 20))
                head, tail = nums[:head_n], nums[head_n:]
                r.shuffle(head)
            else:
                r.shuffle(nums)
                head, tail = nums, nums[n_init + n_pre :]
                tail.reverse()  # pools pop from the end
            init = sorted(head[:n_init])
            pre = sorted(head[n_init : n_init + n_pre])
            self.pools[cat] = tail[::-1] if cat in _SEQUENTIAL else tail
            for num in init:
                code = self._fmt(num, suffix)
                date = self._hist_date(cat, y0 - 1)
                rec = self._new_code(cat, code, date)
                self.state[code] = rec
                self.history.append(
                    (date, "ADDED", str(rec.concept), code, rec.level, "", rec.long, "")
                )
            same_cat = [self._fmt(num, suffix) for num in init]
            for num in pre:
                code = self._fmt(num, suffix)
                added = self._hist_date(cat, y0 - 2)
                rec = self._new_code(cat, code, added)
                start = 1989 if added == "Pre-1990" else int(added[:4])
                if added == "Pre-1990" and r.random() < 0.15:
                    gone = "Pre-1990"
                else:
                    gone = f"{r.randint(min(start + 1, y0 - 1), y0 - 1)}0101"
                instr = self._instruction(same_cat)
                self.deleted[code] = (rec, gone, instr)
                self.pre_deleted.append(code)
                self.history.append(
                    (added, "ADDED", str(rec.concept), code, rec.level, "", rec.long, "")
                )
                self.history.append(
                    (gone, "DELETED", str(rec.concept), code, rec.level, rec.long, "", instr)
                )
        self.pre_deleted.sort()

    def _instruction(self, targets: Sequence[str]) -> str:
        if not targets or self.rng.random() < 0.3:
            return ""
        return f"Code deleted. To report, see {self.rng.choice(targets)}"

    # ------------------------------------------------------------ one transition
    def transition(self, y0: int, y1: int) -> None:
        r = self.rng
        rows: list[tuple[str, str, str, str, str, str]] = []
        used: set[str] = set()
        date = f"{y1}0101"

        def log(key: str, ctype: str, fld: str = "", old: str = "", new: str = "") -> None:
            action = {"added": "ADDED", "reactivated": "ADDED", "retired": "DELETED"}
            rows.append((key, ctype, fld, old, new, action.get(ctype, "")))

        def bring_back(code: str) -> None:
            rec = self.deleted.pop(code)[0]
            self.state[code] = rec
            used.add(code)
            self.history.append(
                (date, "ADDED", str(rec.concept), code, rec.level, "", rec.long, "")
            )
            log(code, "reactivated")

        bring_back(r.choice([c for c in self.pre_deleted if c in self.deleted]))
        back = [c for c in self.retired_prev if c in self.deleted]
        if back:
            bring_back(r.choice(back))

        for cat, _, _, suffix, _, _, n_add in _CATS:
            pool = self.pools[cat]
            for _ in range(min(n_add, len(pool))):
                code = self._fmt(pool.pop(), suffix)
                added = date
                if cat == "pla":
                    added = f"{y1 - 1}{r.choice((4, 7, 10)):02d}01"
                rec = self._new_code(cat, code, added)
                self.state[code] = rec
                used.add(code)
                self.history.append(
                    (date, "ADDED", str(rec.concept), code, rec.level, "", rec.long, "")
                )
                log(code, "added")

        codes = sorted(self.state)
        retire = sorted(r.sample([c for c in codes if c not in used], 100))
        used.update(retire)
        by_cat: dict[str, list[str]] = {}
        for c in codes:
            if c not in used:
                by_cat.setdefault(self.state[c].cat, []).append(c)
        for code in retire:
            rec = self.state.pop(code)
            instr = self._instruction(by_cat.get(rec.cat, []))
            self.deleted[code] = (rec, date, instr)
            self.history.append(
                (date, "DELETED", str(rec.concept), code, rec.level, rec.long, "", instr)
            )
            log(code, "retired")
        self.retired_prev = retire
        codes = sorted(self.state)

        def apply(n: int, pred: Callable[[_Code], bool], fn: Callable[[_Code], bool]) -> None:
            cands = [c for c in codes if c not in used and pred(self.state[c])]
            r.shuffle(cands)
            done = 0
            for c in cands:
                if done >= n:
                    break
                if fn(self.state[c]):
                    used.add(c)
                    done += 1

        def edit_text(kind: str, attr: str, fname: str, limit: int | None = None):
            def fn(rec: _Code) -> bool:
                old = getattr(rec, attr)
                new = (
                    _revise(old, r, limit)
                    if kind == "descriptor_revised"
                    else (_editorial(old, r, limit))
                )
                if new is None:
                    return False
                setattr(rec, attr, new)
                log(rec.code, kind, fname, old, new)
                return True

            return fn

        def long_with_abbrevs(rec: _Code) -> bool:
            if not edit_text("descriptor_revised", "long", "long_descriptor")(rec):
                return False
            for attr, width, short in (
                ("medium", MEDIUM_WIDTH, False),
                ("short", SHORT_WIDTH, True),
            ):
                old, new = getattr(rec, attr), _abbrev(rec.long, width, short)
                if _norm(new) != _norm(old):
                    setattr(rec, attr, new)
                    log(rec.code, "descriptor_revised", f"{attr}_descriptor", old, new)
            return True

        def symbol(rec: _Code) -> bool:
            new = _symbol_swap(rec.long, r)
            if new is None:
                return False
            log(rec.code, "descriptor_revised", "long_descriptor", rec.long, new)
            rec.long = new
            return True

        def clin_edit(kind: str):
            def fn(rec: _Code) -> bool:
                pair = r.choice(rec.clinicians)
                new = (
                    _revise(pair[1], r)
                    if kind == "descriptor_revised"
                    else (_editorial(pair[1], r))
                )
                if new is None or any(new == t for _, t in rec.clinicians):
                    return False
                log(rec.code, kind, f"clinician_descriptor:{pair[0]}", pair[1], new)
                pair[1] = new
                return True

            return fn

        def clin_add(rec: _Code) -> bool:
            have = {t for _, t in rec.clinicians}
            texts = [_clin_text(rec.clin_base or "", p) for p in _POPULATION]
            texts = [t for t in texts if t not in have]
            if not texts or len(rec.clinicians) >= 4:
                return False
            cid, text = self._clin_id(), r.choice(texts)
            rec.clinicians.append([cid, text])
            log(rec.code, "descriptor_revised", f"clinician_descriptor:{cid}", "", text)
            return True

        def clin_remove(rec: _Code) -> bool:
            if len(rec.clinicians) < 2:
                return False
            cid, text = rec.clinicians.pop(r.randrange(1, len(rec.clinicians)))
            log(rec.code, "descriptor_revised", f"clinician_descriptor:{cid}", text, "")
            return True

        def pla_attr(key: str, fname: str, choices: Callable[[], str]):
            def fn(rec: _Code) -> bool:
                assert rec.pla is not None
                old, new = rec.pla[key], choices()
                if new == old:
                    return False
                rec.pla[key] = new
                log(rec.code, "attribute_changed", fname, old, new)
                return True

            return fn

        def any_code(rec: _Code) -> bool:
            return True

        def has_desc(rec: _Code) -> bool:
            return rec.consumer is not None

        def is_pla(rec: _Code) -> bool:
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
        apply(10, is_pla, pla_attr("lab", "pla_lab_name", lambda: r.choice(_LABS)))
        apply(5, is_pla, pla_attr("maker", "pla_manufacturer_name", lambda: r.choice(_MAKERS)))
        apply(5, is_pla, pla_attr("test", "pla_test_name", self._test_name))
        self.truth[(y0, y1)] = sorted(rows)

    # ------------------------------------------------------------ writing
    def write_release(self, root: Path, year: int) -> None:
        std = root / "standard"
        codes = sorted(self.state)
        recs = [self.state[c] for c in codes]
        labels = {
            "LONGULT.txt": "Long Descriptors",
            "MEDU.txt": "Medium Descriptors",
            "SHORTU.txt": "Short Descriptors",
        }
        lines = {
            "LONGULT.txt": [f"{r.code}\t{r.long}" for r in recs],
            "MEDU.txt": [f"{r.code} {r.medium:<{MEDIUM_WIDTH}}" for r in recs],
            "SHORTU.txt": [f"{r.code} {r.short:<{SHORT_WIDTH}}" for r in recs],
        }
        for name, body in lines.items():
            _write(std / name, [*_preamble(year, labels[name]), "", *body], "cp1252")
        described = [r for r in recs if r.consumer is not None]
        _write(
            std / "Consumer Friendly Descriptors" / "ConsumerDescriptor.txt",
            [
                "Concept Id\tCPT Code\tConsumer Friendly Descriptor",
                *(f"{r.concept}\t{r.code}\t{r.consumer}" for r in described),
            ],
            "utf-8-sig",
        )
        _write(
            std / "Clinician Descriptors" / "ClinicianDescriptor.txt",
            [
                "Concept Id\tCPT Code\tClinician Descriptor Id\tClinician Descriptor",
                *(
                    f"{r.concept}\t{r.code}\t{cid}\t{text}"
                    for r in described
                    for cid, text in r.clinicians
                ),
            ],
            "utf-8",
        )
        xml = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>', "<plaCodes>"]
        for r in recs:
            if r.pla is None:
                continue
            p = r.pla
            xml.append(f'  <plaCode cdCode={quoteattr(r.code)} cdId="{r.concept}">')
            elems = [
                ("cdDesc", r.long),
                ("cdMDesc", r.medium),
                ("cdSDesc", r.short),
                ("cdStatus", "EXISTING"),
                ("clinicalDesc", r.clinicians[0][1]),
            ]
            if not p["omit_consumer"]:
                elems.append(("consumerDesc", r.consumer or ""))
            elems += [
                ("effectiveDate", p["effective"]),
                ("publishDate", p["publish"]),
                ("labName", p["lab"]),
                ("manufacturerName", p["maker"]),
                ("testName", p["test"]),
            ]
            xml += [f"    <{tag}>{escape(val)}</{tag}>" for tag, val in elems]
            xml.append("  </plaCode>")
        xml.append("</plaCodes>")
        _write(std / "Proprietary Laboratory Analyses (PLA) Codes" / "CPTPLA", xml, "utf-8")
        hist = root / "CPT Link" / "history"
        order = sorted(
            self.history, key=lambda h: ("0" if h[0] == "Pre-1990" else h[0], h[3], h[1])
        )
        _write(
            hist / "History_DTK_tab.txt",
            [
                "Date\tChange Type\tConcept Id\tCPT Code\tLevel\tPrior Value\tCurrent Value"
                "\tInstruction",
                *("\t".join(h) for h in order),
            ],
            "cp1252",
        )
        _write(
            hist / "Deleted_DTK_tab.txt",
            [
                "Concept Id\tCode\tDate Deleted\tLevel\tDescriptor\tInstruction",
                *(
                    f"{rec.concept}\t{code}\t{when}\t{rec.level}\t{rec.long}\t{instr}"
                    for code, (rec, when, instr) in sorted(self.deleted.items())
                ),
            ],
            "cp1252",
        )

    def write_truth(self, out: Path) -> None:
        tdir = out / "truth"
        tdir.mkdir(parents=True, exist_ok=True)
        summary: dict[str, dict[str, int]] = {}
        for (y0, y1), rows in self.truth.items():
            with open(tdir / f"changes_{y0}_{y1}.csv", "w", encoding="utf-8", newline="") as fh:
                w = csv.writer(fh, lineterminator="\n")
                w.writerow(TRUTH_HEADER)
                for key, ctype, fld, old, new, action in rows:
                    w.writerow(("cpt", y0, y1, key, ctype, fld, old, new, f"{y1}-01-01", action))
            counts = Counter(row[1] for row in rows)
            summary[f"{y0}_{y1}"] = {ct: counts.get(ct, 0) for ct in CHANGE_TYPES}
        (tdir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def _clin_text(base: str, population: str) -> str:
    return f"{base}, in {population}"


def _iso(year: int, month: int) -> str:
    return f"{year}-{month:02d}-01T00:00:00{'-06:00' if month in (1, 2, 3, 11, 12) else '-05:00'}"


def _preamble(year: int, label: str) -> list[str]:
    lines: list[str] = []
    for i, para in enumerate(_PREAMBLE[: 2 + year % 3]):
        if i:
            lines.append("")
        lines += [ln.format(year=year, label=label) for ln in para]
    return lines


def _write(path: Path, lines: Sequence[str], encoding: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(f"{ln}\r\n" for ln in lines).encode(encoding))


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
    builder = _Builder(years, seed)
    builder.build_first()
    dirs = [out_dir / f"cpt-{years[0]}"]
    builder.write_release(dirs[0], years[0])
    for y0, y1 in itertools.pairwise(years):
        builder.transition(y0, y1)
        dirs.append(out_dir / f"cpt-{y1}")
        builder.write_release(dirs[-1], y1)
    builder.write_truth(out_dir)
    return dirs
