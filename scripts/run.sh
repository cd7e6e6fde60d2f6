#!/usr/bin/env bash
# Set up and serve striv on its embedded default: SQLite and a file archive under ./var/. The example state is loaded
# into an empty database only (or STRIV_STATE=file), and the admin login is created once; a restart keeps both.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var
# Install output goes to a log; it is shown only when the set-up fails.
if ! bash scripts/setup.sh > var/setup.log 2>&1; then
  tail -n 40 var/setup.log >&2
  echo "set-up failed; the whole output is in var/setup.log" >&2
  exit 1
fi
export STRIV_DEBUG="${STRIV_DEBUG:-1}"
# Go's collector inside the jsonnet evaluator runs less often: faster bulk rendering (read at process start only).
export GOGC="${GOGC:-400}"
umask 077  # keys, the secret key and the SQLite file are readable by their owner only
if [ -z "${STRIV_SECRET_KEY:-}" ]; then
  [ -s var/secret_key ] || (umask 077; .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(50))" > var/secret_key)
  export STRIV_SECRET_KEY="$(cat var/secret_key)"
fi
if [ -z "${STRIV_ENCRYPTION_KEY:-}${STRIV_ENCRYPTION_KEY_FILE:-}" ]; then
  [ -s var/encryption-key.pem ] || .venv/bin/python manage.py generate-key --output var/encryption-key.pem
  export STRIV_ENCRYPTION_KEY_FILE="$PWD/var/encryption-key.pem"
fi
listen="${STRIV_LISTEN:-127.0.0.1:8000}"
.venv/bin/python manage.py migrate --no-input -v 0
.venv/bin/python manage.py quickstart --url "http://$listen/"
# The block above is what a newcomer needs; Django's banner follows it without its production warning.
export DJANGO_RUNSERVER_HIDE_WARNING=true
exec .venv/bin/python manage.py runserver "$listen" --skip-checks --noreload
