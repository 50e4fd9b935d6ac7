#!/bin/sh
# nginx image entrypoint step (/docker-entrypoint.d/, before 20-envsubst-on-templates.sh).
#
# Renders CORS_ALLOWED_ORIGINS (space-separated exact origins; empty: CORS off) into the file the
# template includes as ${CORS_MAPS_FILE}: a list is more than envsubst can render. Writes the same
# bytes as `scripts/render_nginx.py --cors` (Tests/Integration/deploy/test_nginx_image.py compares
# them) and checks each origin with its CORS_ORIGIN_PATTERN: an origin as a browser sends it
# (scheme://host[:port], lower case, no path, no default port), never `*` or `null`. Stops the
# container (naming the bad origins) rather than serve a CORS policy nobody asked for.
set -eu
set -f  # the list is split on spaces, never globbed (`*` stays `*`, and is refused)

me=$(basename "$0")
file=${CORS_MAPS_FILE:?CORS_MAPS_FILE must name the file the template includes}

origins=""
bad=""
for origin in ${CORS_ALLOWED_ORIGINS:-}; do
    case " $origins " in
        *" $origin "*) continue ;;  # listed twice: once is enough
    esac
    if printf '%s\n' "$origin" | grep -Eqx 'https?://(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)(:[0-9]{1,5})?' \
        && ! printf '%s\n' "$origin" | grep -Eqx 'https://.*:443|http://.*:80'; then
        origins="${origins:+$origins }$origin"
    else
        bad="${bad:+$bad }$origin"
    fi
done
if [ -n "$bad" ]; then
    echo "$me: CORS_ALLOWED_ORIGINS: not an origin as browsers send it: $bad (scheme://host[:port] in lower case, no path or trailing slash, no default port, no wildcard)" >&2
    exit 1
fi

mkdir -p "$(dirname "$file")"
{
    echo '# Rendered from CORS_ALLOWED_ORIGINS (scripts/render_nginx.py --cors; in the nginx image'
    echo '# deploy/nginx/16-cors-origins.sh). Included by keycloak-fcgi.conf; docs/cors-and-mtls.md.'
    echo 'map $http_origin $keycloak_cors_origin {'
    echo '    default "";'
    for origin in $origins; do
        echo "    \"$origin\" \"$origin\";"
    done
    echo '}'
    echo 'map $http_origin $keycloak_cors_enabled {'
    if [ -n "$origins" ]; then echo '    default 1;'; else echo '    default 0;'; fi
    echo '}'
} > "$file"
if [ -n "$origins" ]; then
    echo "$me: CORS for $origins"
else
    echo "$me: CORS off (CORS_ALLOWED_ORIGINS is empty)"
fi
