#!/usr/bin/env bash
# Set up and serve striv on its embedded default: SQLite and a file archive under ./var/, the getting-started
# state loaded, an admin user with a fresh password printed below.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p var
export STRIV_DEBUG="${STRIV_DEBUG:-1}"
# Go's collector inside the jsonnet evaluator runs less often: faster bulk rendering (read at process start only).
export GOGC="${GOGC:-400}"
if [ -z "${STRIV_SECRET_KEY:-}" ]; then
  [ -s var/secret_key ] || (umask 077; .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(50))" > var/secret_key)
  export STRIV_SECRET_KEY="$(cat var/secret_key)"
fi
if [ -z "${STRIV_ENCRYPTION_KEY:-}${STRIV_ENCRYPTION_KEY_FILE:-}" ]; then
  [ -s var/encryption-key.pem ] || .venv/bin/python manage.py generate-key --output var/encryption-key.pem
  export STRIV_ENCRYPTION_KEY_FILE="$PWD/var/encryption-key.pem"
fi
.venv/bin/python manage.py migrate --no-input
.venv/bin/python manage.py load-state "${STRIV_STATE:-state_examples/getting-started/hello-world.jsonnet}"
.venv/bin/python manage.py create-login admin
exec .venv/bin/python manage.py runserver "${STRIV_LISTEN:-127.0.0.1:8000}"
