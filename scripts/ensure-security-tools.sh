#!/usr/bin/env bash
# Installs the tools of the hostile-input tests when they are missing (Debian/Ubuntu):
#   testssl      the Debian package testssl.sh (apt; sudo when not root) -> /usr/bin/testssl
#   schemathesis the pinned PyPI release, for the Python that runs the tests
# Usage: scripts/ensure-security-tools.sh [testssl|schemathesis|all]
# Exits non-zero when a tool cannot be installed: the tests then fail rather than skip.
set -euo pipefail

SCHEMATHESIS_VERSION=4.32.5
PYTHON=${PYTHON:-python3}

ensure_testssl() {
    if command -v testssl >/dev/null || command -v testssl.sh >/dev/null; then
        return
    fi
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends testssl.sh >/dev/null
    command -v testssl >/dev/null || command -v testssl.sh >/dev/null
}

ensure_schemathesis() {
    local installed
    installed=$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null || true)
    if [[ $installed != "$SCHEMATHESIS_VERSION" ]]; then
        "$PYTHON" -m pip install -q "schemathesis==$SCHEMATHESIS_VERSION"
    fi
    "$PYTHON" -c 'import schemathesis.cli' >/dev/null
}

case "${1:-all}" in
    testssl) ensure_testssl ;;
    schemathesis) ensure_schemathesis ;;
    all) ensure_testssl; ensure_schemathesis ;;
    *) echo "usage: $0 [testssl|schemathesis|all]" >&2; exit 2 ;;
esac
