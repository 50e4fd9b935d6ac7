#!/usr/bin/env bash
# Installs what Tests/Integration/contract/test_browser.py needs, and only what is missing:
# Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver) and the
# Python selenium package. Idempotent: a second run installs nothing and prints nothing.
# Runs apt-get as root, or through sudo otherwise.
set -euo pipefail

selenium_version=4.51.0

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

missing=()
for package in chromium chromium-driver; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
# A package can be installed while its binary is gone (removed by hand): reinstall then.
if [[ ${#missing[@]} -eq 0 ]] && { [[ ! -x /usr/bin/chromium ]] || [[ ! -x /usr/bin/chromedriver ]]; }; then
    missing=(chromium chromium-driver)
fi
if [[ ${#missing[@]} -gt 0 ]]; then
    say "installing ${missing[*]} (apt)"
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends --reinstall "${missing[@]}" >/dev/null
fi

if ! python3 -c 'import selenium' 2>/dev/null; then
    say "installing selenium $selenium_version (pip)"
    python3 -m pip install -q "selenium==$selenium_version"
fi
