#!/usr/bin/env bash
# Runs every test: Swift unit and router tests, then the integration tests against the real
# release binary, real nginx and the test identity provider, all on free loopback ports.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo"
ensure_dependencies
ensure_browser
ensure_security_tools

say "unit and router tests (swift test)"
swift test

say "release build"
swift build -c release --static-swift-stdlib --product keycloak-fcgi
export KEYCLOAK_FCGI_BIN="$(swift build -c release --static-swift-stdlib --show-bin-path)/keycloak-fcgi"
export SWAGGER_UI_DIR="$run_dir/swagger-ui"

say "integration tests (pytest)"
python3 -m pytest -q -p no:cacheprovider Tests/Integration "$@"

# Last, so that a fuzz finding never hides a test result. A fixed seed keeps CI repeatable;
# `make fuzz` and long runs use random seeds.
say "fuzzing each target for ${FUZZ_SECONDS:-60}s (libFuzzer + ASan)"
FUZZ_SEED=${FUZZ_SEED:-1} scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
