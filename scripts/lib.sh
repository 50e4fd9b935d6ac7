# Shared by the scripts in this folder. Source it; it sets `repo` and defines helpers.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run_dir=${KEYCLOAK_FCGI_RUN_DIR:-$repo/.run}
swagger_version=2026.10.1

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Installs Debian/Ubuntu packages that are missing (CI runs as root; otherwise sudo).
ensure_packages() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    say "installing ${missing[*]}"
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Installs the pinned Python test tooling when an import is missing.
ensure_python_packages() {
    if ! python3 -c 'import cryptography, joserfc, pytest, requests, jsonschema, openapi_spec_validator, yaml, xdist' 2>/dev/null \
        || ! command -v hadolint >/dev/null; then
        say "installing Python test tooling"
        python3 -m pip install -q -r "$repo/scripts/requirements-test.txt"
    fi
}

# Puts the Swagger UI dist (PyPI drf-spectacular-sidecar) in $run_dir/swagger-ui.
ensure_swagger_ui() {
    local target="$run_dir/swagger-ui"
    [[ -f $target/swagger-ui-bundle.js ]] && return 0
    say "fetching Swagger UI (drf-spectacular-sidecar $swagger_version from PyPI)"
    local download
    download=$(mktemp -d)
    python3 -m pip download -q --no-deps "drf-spectacular-sidecar==$swagger_version" -d "$download"
    python3 - "$download" "$target" <<'PY'
import pathlib, shutil, sys, zipfile
download, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(download.glob("drf_spectacular_sidecar-*.whl"))
prefix = "drf_spectacular_sidecar/static/drf_spectacular_sidecar/swagger-ui-dist/"
staging = target.with_name(target.name + ".partial")
shutil.rmtree(staging, ignore_errors=True)
staging.mkdir(parents=True)
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            (staging / name[len(prefix):]).write_bytes(archive.read(name))
shutil.rmtree(target, ignore_errors=True)
staging.rename(target)
PY
    rm -rf "$download"
}

# Everything the build, the local stack and the tests need.
ensure_dependencies() {
    command -v swift >/dev/null || { echo "swift is not on PATH (Swift 6.2 or newer is required)" >&2; exit 1; }
    # Build and run: nginx, libfcgi, libcurl, hiredis (the shared revocation list). Tests:
    # docker-compose (validates the Compose file without an engine), libfcgi-bin (cgi-fcgi, the
    # image's health check), gettext-base (envsubst, as in the nginx image), systemd
    # (systemd-analyze verify for the units), wrk (load in the keep-alive test and the
    # benchmarks), redis-server (the revocation store's tests start a real one), jq (the nginx image's docs rendering, replayed by a test).
    ensure_packages nginx libfcgi-dev libcurl4-openssl-dev libhiredis-dev pkg-config openssl curl ca-certificates \
        docker-compose libfcgi-bin gettext-base systemd wrk redis-server jq
    ensure_python_packages
    ensure_swagger_ui
}

# Headless Chromium, chromedriver and selenium for the real-browser test of the Swagger page.
ensure_browser() {
    bash "$repo/scripts/ensure-browser.sh"
}

# testssl.sh and schemathesis for the hostile-input tests.
ensure_security_tools() {
    bash "$repo/scripts/ensure-security-tools.sh"
}
