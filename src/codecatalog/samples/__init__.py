"""Synthetic AMA CPT releases with a ground-truth change log, for tests and demos.

All text is invented from this package's word lists; only file layouts and code ranges are real.
"""

from codecatalog.samples.abbrev import MEDIUM_WIDTH as MEDIUM_WIDTH
from codecatalog.samples.abbrev import SHORT_WIDTH as SHORT_WIDTH
from codecatalog.samples.generate import generate_releases
from codecatalog.samples.truth import CHANGE_TYPES, TRUTH_HEADER

__all__ = ["CHANGE_TYPES", "TRUTH_HEADER", "generate_releases"]
