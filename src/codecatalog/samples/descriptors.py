"""Invented long, consumer and clinician descriptor texts for a code of a given category."""

from __future__ import annotations

import random
import string

from codecatalog.samples.service_words import (
    CAT2_OUTCOME,
    CAT2_THING,
    CAT3_TECH,
    DISEASE,
    EM_SETTING,
    LAB_METHOD,
    MED_DETAIL,
    MED_SERV,
    PLA_METHOD,
    PLA_REPORT,
    SPECIMEN,
    SYL_A,
    SYL_B,
    SYL_C,
)
from codecatalog.samples.words import (
    ADJ,
    ANES_QUAL,
    APPROACH,
    EPONYM,
    RAD_MOD,
    RAD_QUAL,
    SIDE,
    STRUCT,
    SURG_PROC,
    SURG_QUAL,
)


def _site(rng: random.Random) -> tuple[str, str]:
    """A (clinical, lay) anatomic site phrase."""
    adj, struct = rng.choice(ADJ), rng.choice(STRUCT)
    return f"{rng.choice(SIDE)} {adj} {struct}", f"{adj} {struct}"


def describe(rng: random.Random, cat: str) -> tuple[str, str | None, str | None]:
    """Invented (long, consumer, clinician base) texts for a code of category ``cat``."""
    site, lay_site = _site(rng)
    tech, lay = rng.choice(SURG_PROC)
    appr, lay_appr = rng.choice(APPROACH)
    if cat == "anes":
        long = f"Anesthesia for {tech.lower()} of {site}; {rng.choice(ANES_QUAL)}"
        return (
            long,
            f"Anesthesia during {lay.lower()} of the patient’s {lay_site}",
            f"Anesthesia care for {tech.lower()} of the {site}",
        )
    if cat in ("surg", "cat3"):
        qual = rng.choice(SURG_QUAL)
        if cat == "cat3":
            long = f"{tech} of {site} using {rng.choice(CAT3_TECH)}; {qual}"
        elif rng.random() < 0.03:
            long = f"{tech} of {site} by {rng.choice(EPONYM)}'s technique, {appr}"
        else:
            long = rng.choice(
                (
                    f"{tech} of {site}, {appr}; {qual}",
                    f"{tech} of {site}; {qual}",
                    f"{tech}, {site}, {appr}",
                )
            )
        return long, f"{lay} of the {lay_site} {lay_appr}", f"{tech} of the {site}, {appr}"
    if cat == "rad":
        mod, lay_mod = rng.choice(RAD_MOD)
        return (
            f"{mod}, {site}; {rng.choice(RAD_QUAL)}",
            f"{lay_mod} of the {lay_site}",
            f"{mod} of the {site} with interpretation",
        )
    if cat == "lab":
        name = (rng.choice(SYL_A) + rng.choice(SYL_B) + rng.choice(SYL_C)).capitalize()
        method = rng.choice(LAB_METHOD)
        return (
            f"{name} level; {method}",
            f"Test measuring {name.lower()} in a sample",
            f"Laboratory measurement of {name.lower()}, {method}",
        )
    if cat == "med":
        serv, lay_serv = rng.choice(MED_SERV)
        adj = rng.choice(ADJ)
        return (
            f"{serv} using {adj} protocol, {rng.choice(MED_DETAIL)}",
            f"{lay_serv} using a {adj} protocol",
            f"{serv} under the {adj} protocol",
        )
    if cat == "em":
        setting, lay_set = rng.choice(EM_SETTING)
        status = rng.choice(("a new", "an established"))
        cx = rng.choice(("minimal", "low", "moderate", "high"))
        mins = rng.randrange(10, 80, 5)
        long = (
            f"{setting} assessment session for {status} patient, {cx} decision "
            f"complexity on the {rng.choice(ADJ)} scale; >={mins} minutes total time"
        )
        return (
            long,
            f"{lay_set} visit for {status} patient, {cx} complexity",
            f"{setting} assessment of {status} patient with {cx} complexity decisions",
        )
    if cat == "cat2":
        thing = f"{rng.choice(ADJ).capitalize()} {rng.choice(CAT2_THING)}"
        return f"{thing} {rng.choice(CAT2_OUTCOME)}", None, None
    disease = f"{rng.choice(ADJ)} {rng.choice(DISEASE)}"
    spec = rng.choice(SPECIMEN)
    if cat == "pla":
        genes = ", ".join(
            "".join(rng.choices(string.ascii_uppercase, k=3)) + str(rng.randint(1, 9))
            for _ in range(2)
        )
        n = rng.randint(3, 500)
        long = (
            f"{disease.capitalize()} ({genes}), {rng.choice(PLA_METHOD)} analysis of {n} "
            f"genes, {spec}, {rng.choice(PLA_REPORT)}"
        )
        return (
            long,
            f"Genetic test of {n} genes in {spec} for {disease}",
            f"Molecular analysis of {n} genes in {spec} for {disease}",
        )
    if cat == "vacc":
        virus = f"{rng.choice(ADJ).capitalize()} virus type {rng.randint(1, 40)}"
        dose = rng.choice(("first", "second", "booster", "single"))
        amt = rng.choice(("0.25", "0.3", "0.5"))
        return (
            f"{virus} vaccine administration, intramuscular, {dose} dose, {amt} mL",
            f"Shot to protect against {virus}, {dose} dose",
            f"Intramuscular {virus} vaccine administration, {dose} dose",
        )
    n = rng.randint(3, 40)
    score = rng.choice(("risk score", "likelihood category", "0-100 index"))
    return (
        f"{disease.capitalize()} risk algorithm using {n} biomarkers in {spec}, "
        f"reported as a {score}",
        f"Risk calculation for {disease} from a {spec} test",
        f"Algorithmic analysis of {n} biomarkers in {spec} for {disease}",
    )


def clin_text(base: str, population: str) -> str:
    """One clinician descriptor: the code's clinician base text for one patient population."""
    return f"{base}, in {population}"
