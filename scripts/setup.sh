#!/usr/bin/env bash
# Installs what building, running and testing need on a fresh Debian/Ubuntu machine:
# nginx, libfcgi-dev, libcurl4-openssl-dev, the Python test tooling, the Swagger UI files.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_dependencies
say "dependencies ready"
