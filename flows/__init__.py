"""Prefect flows: thin wiring over codecatalog.pipeline (installed as codecatalog.flows)."""
