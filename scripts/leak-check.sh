#!/usr/bin/env bash
# Leak check: the release binary under valgrind memcheck behind the real nginx
# (Tests/Integration/operations/test_leaks.py), then valgrind's summary.
#
#   scripts/leak-check.sh            # reuses $KEYCLOAK_FCGI_BIN or .build/release/keycloak-fcgi
#   scripts/leak-check.sh --build    # runs `swift build -c release` first
#
# valgrind 3.19 (Debian 12) cannot read the DWARF 5 that swiftc writes, so it runs a
# `strip -g` copy (the symbol table stays: frames keep their mangled Swift names, enough to
# tell the project's code from the runtimes'). Passes when no "definitely lost" block was
# allocated through the project's modules (Auth, FCGIApp, Platform, KeycloakFCGI); leaks only in third-party code or
# the runtimes are listed and allowed. About a minute and a half.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo"

ensure_dependencies
ensure_packages valgrind binutils

binary=${KEYCLOAK_FCGI_BIN:-$repo/.build/release/keycloak-fcgi}
if [[ ${1:-} == --build || ! -x $binary ]]; then
    say "release build"
    swift build -c release --static-swift-stdlib --product keycloak-fcgi
    binary="$(swift build -c release --static-swift-stdlib --show-bin-path)/keycloak-fcgi"
fi
[[ ${1:-} == --build ]] && shift

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say "strip -g copy of $binary"
cp "$binary" "$work/keycloak-fcgi"
strip -g "$work/keycloak-fcgi"

say "valgrind memcheck behind nginx (Tests/Integration/operations/test_leaks.py)"
status=0
KEYCLOAK_FCGI_BIN="$binary" KEYCLOAK_FCGI_LEAK_BIN="$work/keycloak-fcgi" LEAK_REPORT="$work/report.txt" \
    SWAGGER_UI_DIR="$run_dir/swagger-ui" \
    python3 -m pytest -q -p no:cacheprovider Tests/Integration/operations/test_leaks.py "$@" || status=$?
if [[ -f $work/report.txt ]]; then
    cat "$work/report.txt"
fi
exit $status
