#!/bin/sh
# nginx image entrypoint step (/docker-entrypoint.d/, runs as root before nginx starts).
#
# Makes a DEVELOPMENT TLS set-up when none is there: a throw-away CA and a `localhost` leaf
# signed by it (SAN localhost, 127.0.0.1, ::1), as tls.crt / tls.key in $TLS_DIR
# (default /etc/nginx/tls, where the template's TLS_CERTIFICATE / TLS_CERTIFICATE_KEY point).
# The CA certificate stays as ca.crt so a client can trust it:
#     docker compose cp nginx:/etc/nginx/tls/ca.crt ./dev-ca.crt
#     curl --cacert ./dev-ca.crt https://localhost:8443/
# The CA key is deleted once the leaf is signed.
#
# When tls.crt already exists (an operator mounted a real certificate and key there), nothing
# is done. A tls.crt without tls.key is an error: nginx could not start with it anyway.
set -eu

dir=${TLS_DIR:-/etc/nginx/tls}
me=$(basename "$0")

if [ -e "$dir/tls.crt" ]; then
    if [ ! -e "$dir/tls.key" ]; then
        echo "$me: $dir/tls.crt exists but $dir/tls.key does not" >&2
        exit 1
    fi
    echo "$me: using the certificate in $dir/tls.crt"
    exit 0
fi

mkdir -p "$dir"
if [ ! -w "$dir" ]; then
    echo "$me: $dir has no tls.crt and is not writable (a read-only mount without a certificate?)" >&2
    exit 1
fi

echo "$me: no certificate in $dir: making a development CA and a localhost certificate"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077

openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 825 \
    -subj "/CN=keycloak-fcgi development CA (docker)" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
openssl req -new -nodes -newkey rsa:2048 -sha256 -subj "/CN=localhost" \
    -keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
cat > "$work/leaf.ext" <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EXT
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
    -CAcreateserial -days 397 -sha256 -extfile "$work/leaf.ext" -out "$work/tls.crt" 2>/dev/null

# nginx's master process (root) reads the key before dropping privileges: keep it private.
cp "$work/ca.crt" "$dir/ca.crt"
cp "$work/tls.key" "$dir/tls.key"
chmod 644 "$dir/ca.crt"
chmod 600 "$dir/tls.key"
# tls.crt last: its presence is what marks the set-up complete.
cp "$work/tls.crt" "$dir/tls.crt.partial"
chmod 644 "$dir/tls.crt.partial"
mv "$dir/tls.crt.partial" "$dir/tls.crt"
echo "$me: development certificate $dir/tls.crt (CA: $dir/ca.crt)"
