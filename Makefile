# Two commands do everything on a fresh machine (Python 3.12 needed; see README.md):
#   make run        creates .venv if needed, runs the pipeline (snakemake --cores 8; CORES=N
#                   for another number), then rewrites the README's results table; with the
#                   committed results/ this only re-renders the report
#   make test       creates .venv if needed, then lint + the test suite
# and
#   make reproduce  recomputes every result from scratch (snakemake --forceall)
#   make smoke      the whole pipeline on a tiny configuration (a few minutes); it overwrites
#                   committed files under results/ (docs/usage.md: how to restore them)
#   make readme     rewrites the results table in README.md from results/*.csv
#   make constraints  pins the newest allowed versions in scripts/constraints.txt (what
#                   make env installs)
VENV ?= .venv
CORES ?= 8

.PHONY: env run reproduce readme test lint smoke constraints

env:
	@scripts/setup-env.sh

run: env
	$(VENV)/bin/snakemake --cores $(CORES)
	$(VENV)/bin/python -m bioclf.readme_table

# BIOCLF_FRESH: finished runs' checkpoints are moved aside, not resumed (bioclf/checkpoint.py)
reproduce: env
	BIOCLF_FRESH=1 $(VENV)/bin/snakemake --cores $(CORES) --forceall
	$(VENV)/bin/python -m bioclf.readme_table

readme: env
	$(VENV)/bin/python -m bioclf.readme_table

smoke: env
	$(VENV)/bin/snakemake --cores 2 --configfile config/smoke.yaml

lint: env
	$(VENV)/bin/ruff check bioclf tests bench
	$(VENV)/bin/ruff format --check bioclf tests bench

test: lint
	$(VENV)/bin/python -m pytest -q --durations=10

# scripts/constraints.txt (the versions `make env` installs) rewritten from the newest versions
# that pyproject.toml allows, installed afresh in UNPINNED_VENV (about 6 GB), its header kept;
# the next `make test` reinstalls .venv from it and tests them
UNPINNED_VENV ?= /tmp/bioclf-unpinned-venv
constraints:
	rm -rf $(UNPINNED_VENV)
	BIOCLF_UNPINNED=1 VENV=$(UNPINNED_VENV) scripts/setup-env.sh
	{ grep '^#' scripts/constraints.txt; $(UNPINNED_VENV)/bin/pip freeze --exclude-editable; } \
		> scripts/constraints.txt.new
	mv scripts/constraints.txt.new scripts/constraints.txt
