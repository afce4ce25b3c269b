#!/usr/bin/env bash
# Install what the browser tests (tests/browser/) need. Idempotent: each step is
# skipped when its result is already present.
#
#   scripts/install_browser.sh [VENV]        (VENV defaults to .venv)
#
# 1. Debian's chromium (apt-get), only when /usr/bin/chromium is missing. Playwright's
#    own browser download (`playwright install`) is never used: it needs the internet.
# 2. Playwright for Python into the venv (the driver; it talks to Debian's chromium).
# 3. MathJax 3 from the npm registry into a cache folder (default
#    _build/browser-cache/mathjax, override with VAE_BOOK_MATHJAX_CACHE). The book
#    loads MathJax from a CDN; the tests route that URL to this local copy.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv}"
CACHE="${VAE_BOOK_MATHJAX_CACHE:-$ROOT/_build/browser-cache/mathjax}"
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
echo "playwright: done in ${SECONDS}s"; SECONDS=0

if [ -f "$CACHE/node_modules/mathjax/es5/tex-mml-chtml.js" ]; then
    echo "mathjax: already in $CACHE"
else
    echo "mathjax: installing mathjax@3 into $CACHE"
    mkdir -p "$CACHE"
    npm install --silent --no-audit --no-fund --prefix "$CACHE" mathjax@3
fi
echo "mathjax: done in ${SECONDS}s"
