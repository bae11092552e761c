# Two commands do everything on a fresh machine (Python 3.12 needed; see README.md):
#   make run    creates .venv if needed, then runs the pipeline (snakemake --cores 8)
#   make test   creates .venv if needed, then lint + the test suite
VENV ?= .venv
CORES ?= 8

.PHONY: env run test lint smoke

env:
	@scripts/setup-env.sh

run: env
	$(VENV)/bin/snakemake --cores $(CORES)

smoke: env
	$(VENV)/bin/snakemake --cores 2 --configfile config/smoke.yaml

lint: env
	$(VENV)/bin/ruff check bioclf tests bench
	$(VENV)/bin/ruff format --check bioclf tests bench

test: lint
	$(VENV)/bin/python -m pytest -q --durations=10
