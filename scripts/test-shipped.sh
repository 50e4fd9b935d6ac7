#!/usr/bin/env bash
# The binary as it ships (`make build`, the Dockerfile): the Swift runtime linked in statically.
# `make test` runs the integration suite against the same code linked dynamically (the static
# link is another 2-3 minutes on 2 cores); .ci/run calls this afterwards, so CI also runs the
# contract, browser-facing and security suites against the static binary.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo"
ensure_dependencies
static_flags=(-c release --static-swift-stdlib -Xswiftc -enable-testing)
say "static link of keycloak-fcgi"
swift build "${static_flags[@]}" --product keycloak-fcgi
KEYCLOAK_FCGI_BIN="$(swift build "${static_flags[@]}" --show-bin-path)/keycloak-fcgi"
export KEYCLOAK_FCGI_BIN
export SWAGGER_UI_DIR="$run_dir/swagger-ui"
say "contract and security tests against the static binary"
python3 -m pytest -q -p no:cacheprovider -n 2 --dist loadfile Tests/Integration/contract Tests/Integration/security "$@"
