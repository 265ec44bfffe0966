"""Prefect flows: thin wiring over the steps in codecatalog.pipeline (installed as codecatalog.flows)."""
