# The two quick-start commands: `make run` serves striv on SQLite with the example state; `make test` runs every test.
.PHONY: run test lint bench

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh

# the venv scripts/setup.sh creates; `make lint VENV=/path/to/venv` uses another one
VENV ?= .venv

# style, formatting, types and the import layers (run `bash scripts/setup.sh test` once first)
lint:
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy && $(VENV)/bin/lint-imports

bench:
	bash scripts/bench.sh
