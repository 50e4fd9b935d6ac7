#!/bin/sh
# nginx image entrypoint step (/docker-entrypoint.d/, before 20-envsubst-on-templates.sh).
#
# Checks the values that the envsubst step writes into the Swagger page's files and the page's
# Content-Security-Policy: DOCS_KEYCLOAK_ISSUER (the realm's issuer as browsers reach it) lands
# unescaped in JSON and in an nginx header, DOCS_CLIENT_ID in a JavaScript string. The patterns
# are scripts/render_nginx.py's DOCS_VALUE_PATTERNS: URL-safe characters only (no quote,
# backslash, space, ';', ',' or '$') and no trailing slash on the issuer. Also checks that
# DOCS_RENDERED_DIR is where the envsubst step writes the docs templates. Stops the container
# (naming the variable) rather than serve a broken page.
set -eu

me=$(basename "$0")

fail() {
    echo "$me: $*" >&2
    exit 1
}

# One line (no newline inside) that the extended regular expression matches entirely.
matches() {
    [ "$(printf '%s' "$1" | wc -l)" -eq 0 ] && printf '%s\n' "$1" | grep -Eqx "$2"
}

matches "${DOCS_KEYCLOAK_ISSUER:-}" 'https?://[][A-Za-z0-9.:-]+(/[A-Za-z0-9._~%/-]*[A-Za-z0-9._~%-])?' \
    || fail "DOCS_KEYCLOAK_ISSUER must be the realm's http(s) issuer URL without a trailing slash, URL-safe characters only"
matches "${DOCS_CLIENT_ID:-}" '[A-Za-z0-9._~:@-]+' \
    || fail "DOCS_CLIENT_ID must be a client id of letters, digits and . _ ~ : @ -"
expected="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}/docs"
[ "${DOCS_RENDERED_DIR:-}" = "$expected" ] \
    || fail "DOCS_RENDERED_DIR must be $expected (where the envsubst step renders templates/docs/)"
echo "$me: Swagger sign-in at $DOCS_KEYCLOAK_ISSUER with client $DOCS_CLIENT_ID"
