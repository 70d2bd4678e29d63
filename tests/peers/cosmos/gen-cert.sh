#!/usr/bin/env bash
# gen-cert.sh OUTDIR — test CA (ca.pem, ca-key.pem) and a server certificate for
# 127.0.0.1 / localhost (server.pem, server-key.pem) signed by it. Uses the openssl CLI only.
set -euo pipefail
out="${1:?usage: gen-cert.sh OUTDIR}"
mkdir -p "$out"
cd "$out"
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
  -keyout ca-key.pem -out ca.pem -subj "/CN=cosmoscope test CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -sha256 \
  -keyout server-key.pem -out server.csr -subj "/CN=127.0.0.1" >/dev/null 2>&1
cat > server.ext <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EXT
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
  -out server.pem -days 825 -sha256 -extfile server.ext >/dev/null 2>&1
rm -f server.csr server.ext ca.srl
chmod 600 ca-key.pem server-key.pem
echo "$out"
