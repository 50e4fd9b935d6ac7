#!/usr/bin/env bash
# Builds the fuzz targets (keycloak-fcgi-fuzz, Fuzz/Targets/) with libFuzzer and AddressSanitizer
# (scratch path .build-fuzz) and runs each for SECONDS (default 60). Targets: token, form,
# fastcgi, provider (Fuzz/Targets/FuzzDriver.swift). Seeds live in Fuzz/corpus/<target>/.
# `make test` only replays the corpus and Fuzz/regressions with a plain build (scripts/test.sh);
# .ci/run fuzzes each target for 60 s after it.
#
#   scripts/fuzz.sh [SECONDS] [TARGET ...]          # CI: 60 s each, corpus copied, repo untouched
#   FUZZ_KEEP_CORPUS=1 scripts/fuzz.sh 600          # long runs: new inputs merged into Fuzz/corpus
#   FUZZ_SEED=1 scripts/fuzz.sh 30                  # repeatable (scripts/test.sh); 0 = random
#
# A crash, a sanitizer report or a timeout fails the script; the input is kept in
# artifacts/fuzz/ and should become a regression test.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo"

seconds=${1:-60}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(token form fastcgi provider)

runtime_dir=$(dirname "$(swift -print-target-info 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["paths"]["runtimeResourcePath"])')")
fuzzer_lib=$(find "$runtime_dir" /opt/swift/usr/lib -name 'libclang_rt.fuzzer_no_main-x86_64.a' 2>/dev/null | head -1)
[[ -n $fuzzer_lib ]] || { echo "libclang_rt.fuzzer_no_main not found in the Swift toolchain" >&2; exit 1; }

say "building the fuzzing binary (libFuzzer + ASan, .build-fuzz)"
# -sanitize=fuzzer would link libFuzzer's own main, which clashes with the executable's entry
# point; instead: coverage instrumentation + ASan, libFuzzer without main, and the fuzz
# executable's own main calling LLVMFuzzerRunDriver.
swift build --product keycloak-fcgi-fuzz --scratch-path .build-fuzz \
    -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
    -Xswiftc -DKEYCLOAK_FCGI_FUZZING -Xlinker "$fuzzer_lib" -Xlinker -lstdc++
binary="$(swift build --scratch-path .build-fuzz --show-bin-path)/keycloak-fcgi-fuzz"

mkdir -p artifacts/fuzz
status=0
for target in "${targets[@]}"; do
    work=$(mktemp -d)
    cp -r "Fuzz/corpus/$target/." "$work/"
    say "fuzzing $target for ${seconds}s ($(ls "$work" | wc -l) corpus inputs)"
    if ! KEYCLOAK_FCGI_FUZZ_TARGET=$target ASAN_OPTIONS=detect_leaks=0 "$binary" "$work" \
        -max_total_time="$seconds" -seed="${FUZZ_SEED:-0}" -timeout=10 -rss_limit_mb=4096 -max_len=70000 -print_final_stats=1 \
        -artifact_prefix="artifacts/fuzz/$target-" 2>"artifacts/fuzz/$target.log"; then
        echo "fuzz target $target FAILED; see artifacts/fuzz/$target.log and artifacts/fuzz/$target-*" >&2
        tail -40 "artifacts/fuzz/$target.log" >&2
        status=1
    fi
    grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "artifacts/fuzz/$target.log" || true
    if [[ ${FUZZ_KEEP_CORPUS:-0} == 1 ]]; then
        # Keep only inputs that add coverage: merge the run's corpus into the committed one.
        KEYCLOAK_FCGI_FUZZ_TARGET=$target ASAN_OPTIONS=detect_leaks=0 "$binary" -merge=1 \
            "Fuzz/corpus/$target" "$work" 2>>"artifacts/fuzz/$target.log" >/dev/null
        echo "corpus $target: $(ls "Fuzz/corpus/$target" | wc -l) inputs"
    fi
    rm -rf "$work"
done
exit $status
