#!/usr/bin/env bash
# Makes a development TLS set-up in DIR (default .run/tls): a local CA and a `localhost` leaf
# signed by it (SAN localhost, 127.0.0.1, ::1). Existing files are kept while the leaf is valid
# for another day. Nothing here is ever committed (.run/ is git-ignored).
#
#   scripts/dev-cert.sh [DIR]      → DIR/ca.crt, DIR/localhost.crt, DIR/localhost.key
#
# Trust it with `curl --cacert DIR/ca.crt` (or CURL_CA_BUNDLE=DIR/ca.crt).
set -euo pipefail
dir=${1:-.run/tls}
mkdir -p "$dir"
cd "$dir"

if [[ -f localhost.crt && -f localhost.key && -f ca.crt ]] && openssl x509 -checkend 86400 -noout -in localhost.crt >/dev/null 2>&1; then
    exit 0
fi

umask 077
openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 825 \
    -subj "/CN=keycloak-fcgi development CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout ca.key -out ca.crt 2>/dev/null
openssl req -new -nodes -newkey rsa:2048 -sha256 -subj "/CN=localhost" \
    -keyout localhost.key -out localhost.csr 2>/dev/null
cat > leaf.ext <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EXT
openssl x509 -req -in localhost.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 397 -sha256 \
    -extfile leaf.ext -out localhost.crt 2>/dev/null
rm -f localhost.csr leaf.ext ca.srl
chmod 644 ca.crt localhost.crt
# nginx reads the key as root (master) before dropping privileges; keep it private.
chmod 600 localhost.key ca.key
echo "dev certificate: $(pwd)/localhost.crt (CA: $(pwd)/ca.crt)"
