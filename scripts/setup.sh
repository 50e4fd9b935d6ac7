#!/usr/bin/env bash
# Installs what building, running and testing need on a fresh Debian/Ubuntu machine:
# nginx, libfcgi-dev, libcurl4-openssl-dev, libhiredis-dev, redis-server, the Python test
# tooling, the Swagger UI files (the list is ensure_dependencies in scripts/lib.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_dependencies
say "dependencies ready"
