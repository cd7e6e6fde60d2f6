#!/usr/bin/env bash
# Regenerate docs/images/*.png: run the browser tests with STRIV_SCREENSHOTS set, so they save the pages they visit.
# Needs Debian's Chromium (installed here when missing) and the test extra (playwright). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
fi
[ -x .venv/bin/python ] && .venv/bin/python -c "import playwright" 2>/dev/null || bash scripts/setup.sh test
mkdir -p docs/images
# Fixed zone and database so that the pictures only change when the pages do.
STRIV_TIME_ZONE=UTC STRIV_DATABASE_URL="" STRIV_SCREENSHOTS="$PWD/docs/images" \
  .venv/bin/python -m pytest tests/browser -q -p no:cacheprovider "$@"
ls -1 docs/images/*.png
