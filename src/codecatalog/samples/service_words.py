"""Invented vocabulary for lab, medicine, E/M, Category II/III and PLA descriptors and names."""

LAB_METHOD = (
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
SYL_A = ("ven", "tor", "qua", "ser", "lom", "dra", "fen", "kor", "mal", "pyr", "zan", "ost", "bel")
SYL_B = ("a", "o", "i", "e", "u", "ari", "eno")
SYL_C = ("lin", "lase", "statin", "globin", "peptide", "sterone", "amine", "ozyme", "ulin", "ogen")
MED_SERV = (
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
MED_DETAIL = (
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
EM_SETTING = (
    ("Clinic", "Clinic"),
    ("Home-based", "Home"),
    ("Residential facility", "Care home"),
    ("Telepresence", "Video"),
    ("Observation unit", "Observation"),
    ("Inpatient ward", "Hospital"),
)
CAT2_THING = (
    "risk assessment",
    "symptom score",
    "screening result",
    "medication review",
    "follow-up plan",
    "functional status survey",
    "counseling session",
    "care transition note",
)
CAT2_OUTCOME = (
    "documented",
    "reviewed and documented",
    "not performed for medical reasons",
    "completed, score >=10",
    "completed, score <10",
    "result <7.0%",
    "result >=9.0%",
)
CAT3_TECH = (
    "pulsed ultrasonic energy",
    "bioresorbable scaffold",
    "cryothermal probe",
    "optical coherence mapping",
    "algorithmic image analysis",
    "magnetic microbead tracking",
    "photonic ablation fiber",
)
DISEASE = ("carcinoma", "neoplasia", "cardiomyopathy", "fibrosis", "syndrome", "neuropathy")
PLA_METHOD = (
    "next-generation sequencing",
    "digital PCR",
    "methylation profiling",
    "RNA expression profiling",
    "proteomic profiling",
)
SPECIMEN = ("plasma", "tissue", "whole blood", "buccal swab", "urine")
PLA_REPORT = (
    'reported as "positive/negative"',
    "reported as ‘detected’ or ‘not detected’",
    "reported as risk score",
    "reported as % probability",
    "reported as >=90% confidence call",
)
LABS = (
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
MAKERS = (
    "Quintara Genomics, Inc.",
    "Velorix Biotech",
    "Arden & Pike Instruments",
    "Corvane Sciences",
    "Lumeth Bio LLC",
    "Ostrava Precision Lab",
    "Nivaro Molecular",
)
TEST_A = ("Onco", "Cardio", "Neuro", "Gene", "Fibro", "Immuno", "Hepa", "Reno")
TEST_B = ("Vantage", "Trace", "Scope", "Clarity", "Signal", "Map", "Sight")
TEST_C = ("®", "™", "", "")
TEST_D = ("Panel", "Assay", "Test", "Profile", "Dx")
