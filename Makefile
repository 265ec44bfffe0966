# The two commands of the README. Only Python 3.11 and make are needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
WAREHOUSE := $(CURDIR)/warehouse
SAMPLES := $(WAREHOUSE)/samples
YEARS := 2024 2025 2026

.PHONY: demo test lint clean

$(BIN)/codecatalog: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

demo: $(BIN)/codecatalog
	$(BIN)/codecatalog samples $(SAMPLES) --years $(YEARS)
	for year in $(YEARS); do \
	  $(BIN)/codecatalog refresh cpt $(SAMPLES)/cpt-$$year --version $$year \
	    --warehouse $(WAREHOUSE) || exit 1; \
	done
	@echo
	@echo "warehouse: $(WAREHOUSE)/codecatalog.duckdb"
	@echo "catalog:   $(WAREHOUSE)/published/cpt/latest.json -> $$(sed -n 's/.*"version": "\(.*\)".*/\1/p' $(WAREHOUSE)/published/cpt/latest.json)"
	@echo "report:    $(WAREHOUSE)/published/cpt/$(lastword $(YEARS))/report.md"

test: $(BIN)/codecatalog
	$(BIN)/ruff check src flows tests bench
	$(BIN)/ruff format --check src flows tests bench
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .prefect
