#!/usr/bin/env bash
# Set up and run every test, on SQLite, PostgreSQL (127.0.0.1:5432) and MariaDB (127.0.0.1:3306).
# STRIV_TEST_DATABASES limits the databases (e.g. "sqlite"); extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
dpkg -s libmariadb-dev >/dev/null 2>&1 || need_apt+=(libmariadb-dev)
# docker-compose validates docker-compose.yml without a Docker engine
command -v docker-compose >/dev/null || need_apt+=(docker-compose)
# the browser tests drive Debian's Chromium (no browser download)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  fi
fi
bash scripts/setup.sh test,s3,postgres,mysql

databases="${STRIV_TEST_DATABASES:-sqlite postgres mariadb}"
status=0
for db in $databases; do
  case "$db" in
    sqlite) url="" ;;
    postgres) url="${STRIV_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/striv}" ;;
    mariadb) url="${STRIV_TEST_MARIADB_URL:-mysql://root@127.0.0.1:3306/striv}" ;;
    *) echo "unknown database $db" >&2; exit 2 ;;
  esac
  echo "=== tests on $db ==="
  STRIV_DATABASE_URL="$url" STRIV_TEST_DATABASE="$db" .venv/bin/python -m pytest "$@" || status=$?
done
exit $status
