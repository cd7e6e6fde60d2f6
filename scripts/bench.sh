#!/usr/bin/env bash
# Run every benchmark and print its figures. The API benchmark needs PostgreSQL on 127.0.0.1:5432.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test,s3,postgres,mysql
for bench in render rerender writes push refresh api; do
  echo "=== benchmarks/$bench.py ==="
  .venv/bin/python "benchmarks/$bench.py"
done
