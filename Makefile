# The two commands: `make run` and `make test`. Both set up .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# quiet mkdocs-material's end-of-life banner
export NO_MKDOCS_2_WARNING := 1

.PHONY: install run test lint format docs docs-serve bench bench-nab bench-correlation clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/alertstream run

# -rs lists every skipped test with its reason; the strict docs build fails on broken links.
# Two test processes, a test file each at a time (module fixtures stay whole): the
# end-to-end tests mostly wait on their workers, so two halve the wall time.
test: install
	$(BIN)/ruff check .
	$(BIN)/mkdocs build --strict
	$(BIN)/pytest -q -rs -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

docs: install
	$(BIN)/mkdocs build --strict

docs-serve: install
	$(BIN)/mkdocs serve

bench: install
	$(BIN)/python -m benchmarks.harness $(ARGS)

bench-nab: install
	$(BIN)/python -m benchmarks.nab.run $(ARGS)

# edge F1 and grouping on the gcastle telecom alarms (../shared/gcastle); not in make test
bench-correlation: install
	$(BIN)/python -m benchmarks.correlation $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache site
