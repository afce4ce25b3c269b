#!/usr/bin/env bash
# Install what the browser tests (tests/browser/) need. Idempotent: each step is
# skipped when its result is already present.
#
#   scripts/install_browser.sh [VENV]        (VENV defaults to .venv)
#
# 1. Debian's chromium (apt-get), only when /usr/bin/chromium is missing. Playwright's
#    own browser download (`playwright install`) is never used: it needs the internet.
# 2. Playwright for Python into the venv (the driver; it talks to Debian's chromium).
#
# MathJax is not installed here: the book bundles its own copy in _static/mathjax (the
# build's `make setup-mathjax`, book/_ext/mathjax_offline.py), and the tests block
# every request that leaves localhost.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv}"
CHROMIUM="${VAE_BOOK_CHROMIUM:-/usr/bin/chromium}"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

SECONDS=0
if [ -x "$CHROMIUM" ]; then
    echo "chromium: $CHROMIUM already installed"
else
    echo "chromium: installing Debian's chromium package"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        chromium fonts-dejavu-core
fi
echo "chromium: done in ${SECONDS}s"; SECONDS=0

if "$VENV/bin/python" -c "import playwright" 2>/dev/null; then
    echo "playwright: already installed in $VENV"
else
    echo "playwright: installing into $VENV"
    "$VENV/bin/python" -m pip install --quiet "playwright>=1.49,<2"
fi
echo "playwright: done in ${SECONDS}s"
