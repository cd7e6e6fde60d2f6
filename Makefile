# The two quick-start commands: `make run` serves striv on SQLite with the example state; `make test` runs every test.
.PHONY: run test lint bench

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

bench:
	bash scripts/bench.sh
