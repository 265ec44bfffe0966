"""codecatalog: keeps medical code sets current — ingest, validate, diff, publish."""

from importlib.metadata import version

__version__ = version("codecatalog")
