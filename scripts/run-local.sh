#!/usr/bin/env bash
# Runs the whole local stack on this machine and prints its URLs:
#   the test identity provider (idp/mini_keycloak.py, Keycloak-compatible) on 127.0.0.1:8080,
#   keycloak-fcgi (release build) on a unix socket,
#   nginx with a development certificate on https://localhost:8443 (http://localhost:8000
#   redirects there), serving /docs and /openapi.json (rendered for the local provider: the
#   Swagger page's Authorize also signs in on its login page).
# Ctrl-C stops everything. Ports: HTTPS_PORT, HTTP_PORT, IDP_PORT, INTERNAL_PORT (health and
# metrics, loopback only) in the environment; CORS_ALLOWED_ORIGINS (space-separated origins
# allowed to call the API from a browser, docs/cors-and-mtls.md) too.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$repo"

https_port=${HTTPS_PORT:-8443}
http_port=${HTTP_PORT:-8000}
idp_port=${IDP_PORT:-8080}
internal_port=${INTERNAL_PORT:-8081}

for port in "$https_port" "$http_port" "$idp_port" "$internal_port"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port is in use; set HTTPS_PORT / HTTP_PORT / IDP_PORT / INTERNAL_PORT to free ports" >&2
        exit 1
    fi
done

ensure_dependencies
say "building keycloak-fcgi (release)"
swift build -c release --static-swift-stdlib --product keycloak-fcgi
binary="$(swift build -c release --static-swift-stdlib --show-bin-path)/keycloak-fcgi"

mkdir -p "$run_dir/nginx-tmp"
chmod 700 "$run_dir"
bash scripts/dev-cert.sh "$run_dir/tls"
secret_file="$run_dir/client-secret"
[[ -s $secret_file ]] || (umask 077 && openssl rand -hex 24 > "$secret_file")

pids=()
cleanup() {
    trap - EXIT INT TERM
    say "stopping"
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

say "starting the identity provider on 127.0.0.1:$idp_port"
rm -f "$run_dir/idp.ready"
# The Swagger page's public client must know where the page is (its redirect URI and web origin).
IDP_CLIENT_SECRET=$(cat "$secret_file") python3 idp/mini_keycloak.py --host 127.0.0.1 --port "$idp_port" \
    --users idp/users.json --ready-file "$run_dir/idp.ready" \
    --docs-redirect-uri "https://localhost:$https_port/docs/oauth2-redirect.html" \
    --docs-web-origin "https://localhost:$https_port" >"$run_dir/idp.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [[ -f $run_dir/idp.ready ]] && break; sleep 0.1; done
[[ -f $run_dir/idp.ready ]] || { cat "$run_dir/idp.log" >&2; exit 1; }
issuer=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["issuer"])' "$run_dir/idp.ready")

# openapi.json and swagger-init.js with the provider's sign-in URLs and the page's client.
python3 scripts/render_nginx.py --docs "$run_dir/docs" DOCS_KEYCLOAK_ISSUER="$issuer" \
    DOCS_CLIENT_ID=keycloak-fcgi-docs

say "starting keycloak-fcgi"
socket="$run_dir/keycloak-fcgi.sock"
KEYCLOAK_SERVER_URL="http://127.0.0.1:$idp_port" KEYCLOAK_REALM=testing KEYCLOAK_CLIENT_ID=fastapi-keycloak \
    KEYCLOAK_CLIENT_SECRET_FILE="$secret_file" FCGI_LISTEN="unix:$socket" FCGI_SOCKET_MODE=660 \
    "$binary" --env-file /dev/null 2>"$run_dir/keycloak-fcgi.log" &
pids+=($!)

say "starting nginx on https://localhost:$https_port"
# CORS for the origins in CORS_ALLOWED_ORIGINS (space-separated; unset: CORS off).
python3 scripts/render_nginx.py --cors "$run_dir/cors-origins.conf" CORS_ALLOWED_ORIGINS="${CORS_ALLOWED_ORIGINS:-}"
python3 scripts/render_nginx.py nginx/templates/keycloak-fcgi.conf.template "$run_dir/keycloak-fcgi.conf" \
    FCGI_UPSTREAM="unix:$socket" SERVER_NAME=localhost HTTPS_LISTEN="127.0.0.1:$https_port" HTTP_LISTEN="127.0.0.1:$http_port" \
    INTERNAL_LISTEN="127.0.0.1:$internal_port" \
    PUBLIC_HTTPS_PORT="$https_port" TLS_CERTIFICATE="$run_dir/tls/localhost.crt" \
    TLS_CERTIFICATE_KEY="$run_dir/tls/localhost.key" HTML_DIR="$repo/nginx/html" \
    SWAGGER_UI_DIR="$run_dir/swagger-ui" MAX_BODY_SIZE=64k LOGIN_RATE=10r/s LOGIN_BURST=20 UPSTREAM_KEEPALIVE=64 \
    DOCS_RENDERED_DIR="$run_dir/docs" DOCS_KEYCLOAK_ISSUER="$issuer" CORS_MAPS_FILE="$run_dir/cors-origins.conf"
python3 scripts/render_nginx.py nginx/local/nginx.conf.template "$run_dir/nginx.conf" RUN_DIR="$run_dir" \
    NGINX_USER="$(id -un)"
nginx -p "$run_dir" -c "$run_dir/nginx.conf" -e "$run_dir/nginx-error.log" -g 'daemon off;' &
pids+=($!)

for _ in $(seq 100); do
    curl -fsS --cacert "$run_dir/tls/ca.crt" "https://localhost:$https_port/" >/dev/null 2>&1 && break
    sleep 0.1
done

cat <<TXT

keycloak-fcgi is running.
  API            https://localhost:$https_port/   (http://localhost:$http_port redirects here)
  Swagger UI     https://localhost:$https_port/docs   (Authorize: paste a token, or sign in with
                 OAuth2AuthorizationCodeBearer on the provider's login page)
  OpenAPI        https://localhost:$https_port/openapi.json
  Identity prov. http://127.0.0.1:$idp_port/realms/testing   (users: idp/users.json)
  Health/metrics http://127.0.0.1:$internal_port/healthz  /readyz  /metrics   (loopback only)
  Dev CA         $run_dir/tls/ca.crt
  Logs           $run_dir/{keycloak-fcgi,idp,nginx-error,nginx-access}.log

Try it (the article's walk-through):
  export CURL_CA_BUNDLE=$run_dir/tls/ca.crt
  curl -X GET https://localhost:$https_port/protected
  curl -X POST https://localhost:$https_port/login \\
    -H "Content-Type: application/x-www-form-urlencoded" \\
    -d "username=abdullah&password=Test#123456"
  curl -X GET https://localhost:$https_port/protected -H "Authorization: Bearer <token>"

Ctrl-C stops everything.
TXT
wait -n "${pids[@]}"
echo "a component stopped; see the logs in $run_dir" >&2
