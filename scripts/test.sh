#!/usr/bin/env bash
# Runs every deterministic test and prints how long each stage took:
#   1. lint: swift format lint with the repository's .swift-format;
#   2. build: one release build of everything (the Swift test targets, the fuzz targets and the
#      responder), with testable imports;
#   3. Swift tests: unit and router tests (Swift Testing);
#   4. fuzz replay: every input of Fuzz/corpus and Fuzz/regressions through its fuzz target, once
#      (libFuzzer itself runs in `make fuzz` and .ci/run, not here);
#   5. integration: pytest over Tests/Integration against stage 2's keycloak-fcgi, real nginx and the local
#      identity provider, on free loopback ports, in two pytest processes (pytest-xdist);
#   6. the final log check (every log line of stage 6 against every secret it handled).
# Installs are done before the clock starts. Arguments go to pytest (stage 5).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo"
ensure_dependencies
ensure_browser
ensure_security_tools

# One release build serves the Swift tests, the fuzz replay and the integration tests: a debug
# build for the tests plus a release build for the binary compiled every dependency twice
# (swift-crypto's BoringSSL above all), over half of the 12-minute budget on 2 cores.
# -enable-testing keeps @testable imports working in release. The shipped binary (make build,
# the Dockerfile) links the Swift runtime in statically (--static-swift-stdlib): that link took
# 150 s of a 15-minute run, so it is left to scripts/test-shipped.sh, which .ci/run calls after
# this (the contract and security suites against the static binary). Here the integration
# tests run the same code linked dynamically.
build_flags=(-c release -Xswiftc -enable-testing)

stages=()
started_all=$(date +%s)
stage() {
    local name=$1
    shift
    say "$name"
    local started
    started=$(date +%s)
    "$@"
    stages+=("$(printf '%-40s %5ss' "$name" "$(($(date +%s) - started))")")
}
report() {
    local status=$?
    if [[ ${#stages[@]} -gt 0 ]]; then
        printf '\n%s\n' "stage times (make test):"
        printf '  %s\n' "${stages[@]}"
        printf '  %-40s %5ss%s\n' "total" "$(($(date +%s) - started_all))" "$([[ $status -ne 0 ]] && echo "  (FAILED)")"
    fi
}
trap report EXIT

lint() {
    swift format lint --strict -r Sources Tests Fuzz/Targets Package.swift
}

build() {
    swift build "${build_flags[@]}" --build-tests
}

swift_tests() {
    swift test "${build_flags[@]}" --skip-build
}

fuzz_replay() {
    local bin
    bin=$(swift build "${build_flags[@]}" --show-bin-path)
    for target in token form fastcgi provider; do
        local regressions=(Fuzz/regressions/"$target"-*)
        [[ -e ${regressions[0]} ]] || regressions=()
        "$bin/keycloak-fcgi-fuzz" "$target" "Fuzz/corpus/$target" "${regressions[@]}"
    done
}

integration() {
    python3 -m pytest -q -p no:cacheprovider -n 2 --dist loadfile Tests/Integration \
        --ignore Tests/Integration/zz_final "$@"
}

final_log_check() {
    python3 -m pytest -q -p no:cacheprovider Tests/Integration/zz_final
}

stage "lint (swift format)" lint
stage "build (release, tests, fuzz targets)" build
stage "Swift unit and router tests" swift_tests
stage "fuzz corpus and regressions replayed" fuzz_replay

export KEYCLOAK_FCGI_BIN="$(swift build "${build_flags[@]}" --show-bin-path)/keycloak-fcgi"
export SWAGGER_UI_DIR="$run_dir/swagger-ui"
# The record of logs and secrets the two pytest processes share with the final check.
KEYCLOAK_FCGI_TEST_RECORD=$(mktemp -d)
export KEYCLOAK_FCGI_TEST_RECORD
trap 'status=$?; rm -rf "$KEYCLOAK_FCGI_TEST_RECORD"; (exit $status); report' EXIT
stage "integration tests (pytest -n 2)" integration "$@"
stage "final log check (no secret in any log)" final_log_check
