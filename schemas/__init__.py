"""Declarative pandera schemas, installed with the package."""
