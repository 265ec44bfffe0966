"""Source declarations, installed with the package."""
