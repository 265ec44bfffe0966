# The two commands of the README. Only Python 3.11 and make are needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
WAREHOUSE := $(CURDIR)/warehouse
SAMPLES := $(WAREHOUSE)/samples
YEARS := 2024 2025 2026
# A payer's policy file declared in TOML (no Python): two quarters, refreshed after the CPT years.
PAYER := $(CURDIR)/config/examples/northwind
PAYER_QUARTERS := 2026Q1 2026Q2
# CMS's NCCI edits (PTP, eight parts; MUE, three tables) generated for the same quarters, naming
# the synthetic CPT codes; then the January question across all policy sources.
POLICY_QUARTERS := 2026Q1 2026Q2
AS_OF := 2026-04-01
# Tests marked `prefect` start one local Prefect server; `.ci/run` includes them.
PYTEST_MARKERS ?= not prefect
PREFECT_SERVER_TIMEOUT ?= 300

.PHONY: demo test bench stop clean

$(BIN)/codecatalog: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

# The refreshes run as Prefect flow runs against a local `prefect server start` (left running for
# its UI; `make stop` stops it). If the server does not come up in time they run in-process.
demo: $(BIN)/codecatalog
	$(BIN)/codecatalog samples $(SAMPLES) --years $(YEARS) --policy
	@api=$$($(BIN)/python -m codecatalog.prefect_server start --timeout $(PREFECT_SERVER_TIMEOUT)) \
	  || echo "Prefect server did not start: refreshing in-process instead"; \
	for year in $(YEARS); do \
	  PREFECT_API_URL=$$api $(BIN)/codecatalog refresh cpt $(SAMPLES)/cpt-$$year \
	    --version $$year --warehouse $(WAREHOUSE) || exit 1; \
	done; \
	for quarter in $(PAYER_QUARTERS); do \
	  PREFECT_API_URL=$$api $(BIN)/codecatalog refresh northwind_pa \
	    $(PAYER)/northwind_pa_$$quarter.csv --version $$quarter --sources $(PAYER)/northwind_pa.toml \
	    --warehouse $(WAREHOUSE) || exit 1; \
	done; \
	for quarter in $(POLICY_QUARTERS); do \
	  PREFECT_API_URL=$$api $(BIN)/codecatalog refresh ncci_ptp $(SAMPLES)/ncci-ptp-$$quarter \
	    --version $$quarter --warehouse $(WAREHOUSE) || exit 1; \
	  PREFECT_API_URL=$$api $(BIN)/codecatalog refresh mue $(SAMPLES)/ncci-mue-$$quarter \
	    --version $$quarter --warehouse $(WAREHOUSE) || exit 1; \
	done; \
	echo; \
	$(BIN)/codecatalog findings --as-of $(AS_OF) --warehouse $(WAREHOUSE) | head -n 24; \
	echo "  (all of it: codecatalog findings --as-of $(AS_OF) --warehouse $(WAREHOUSE))"; \
	echo; \
	if [ -n "$$api" ]; then \
	  COLUMNS=120 PREFECT_API_URL=$$api $(BIN)/prefect flow-run ls \
	    --limit $(words $(YEARS) $(PAYER_QUARTERS) $(POLICY_QUARTERS) $(POLICY_QUARTERS)); \
	  echo "Prefect UI: $${api%/api} (flow runs, and each change report as an artifact; make stop stops it)"; \
	fi; \
	echo "warehouse: $(WAREHOUSE)/codecatalog.duckdb (the reader file: open it read-only any time)"; \
	echo "catalog:   $(WAREHOUSE)/published/cpt/latest.json -> $$(sed -n 's/.*"version": "\(.*\)".*/\1/p' $(WAREHOUSE)/published/cpt/latest.json)"; \
	echo "report:    $(WAREHOUSE)/published/cpt/$(lastword $(YEARS))/report.md (and report.html: open it in a browser)"; \
	echo "payer:     $(WAREHOUSE)/published/northwind_pa/$(lastword $(PAYER_QUARTERS))/report.md" \
	  "(changes and findings of a declared policy file, $(PAYER))"; \
	echo "NCCI:      $(WAREHOUSE)/published/ncci_ptp/$(lastword $(POLICY_QUARTERS))/report.md" \
	  "and .../mue/$(lastword $(POLICY_QUARTERS))/report.md (CMS policy files, generated)"

test: $(BIN)/codecatalog
	$(BIN)/ruff check src flows tests bench
	$(BIN)/ruff format --check src flows tests bench
	$(BIN)/mypy
	$(BIN)/pytest -m "$(PYTEST_MARKERS)" --durations=5

# Not part of `make test`: refreshes of 5M-row NCCI PTP quarters (one file; then the eight-part
# releases as `ncci_ptp`) against a DuckDB floor and a pandas pipeline, 3 interleaved rounds each
# (about 15 minutes). Data cached in bench/.work/.
# Smaller runs: make bench BENCH_ARGS="--rows 200000 --rounds 1 [--scenario single|ncci]".
bench: $(BIN)/codecatalog
	$(BIN)/python bench/bench_table_refresh.py $(BENCH_ARGS)

stop:
	-$(BIN)/python -m codecatalog.prefect_server stop

clean: stop
	rm -rf $(VENV) .prefect
