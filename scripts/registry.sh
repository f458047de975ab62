#!/usr/bin/env bash
# Start or stop Debian's docker-registry (CNCF Distribution) on 127.0.0.1 with TLS (a CA made
# for it) and htpasswd (bcrypt) auth.
#
#   scripts/registry.sh start DIR [USER PASSWORD]   prints the port; CA at DIR/ca.crt
#   scripts/registry.sh stop DIR
#
# With SEALIFT_REGISTRY_READONLY=1 the registry serves DIR's data read-only (Distribution's
# storage.maintenance.readonly): every write is refused.
set -euo pipefail

cmd=${1:?usage: registry.sh start|stop DIR [USER PASSWORD]}
dir=${2:?usage: registry.sh start|stop DIR [USER PASSWORD]}
user=${3:-sealift}
password=${4:-sealift-test}

case "$cmd" in
stop)
    if [ -f "$dir/pid" ]; then kill "$(cat "$dir/pid")" 2>/dev/null || true; rm -f "$dir/pid"; fi
    exit 0
    ;;
start) ;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac

mkdir -p "$dir/data"
cd "$dir"
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
if [ ! -f ca.crt ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=sealift-test-ca -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
        -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > ext.cnf
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
        -extfile ext.cnf -out server.crt 2>/dev/null
fi
htpasswd -Bbn "$user" "$password" > htpasswd
readonly=false
[ "${SEALIFT_REGISTRY_READONLY:-}" = 1 ] && readonly=true
cat > config.yml <<YAML
version: 0.1
log: {level: ${SEALIFT_REGISTRY_LOG:-warn}}
storage:
  filesystem: {rootdirectory: $dir/data}
  delete: {enabled: true}
  maintenance: {readonly: {enabled: ${readonly}}}
http:
  addr: 127.0.0.1:$port
  secret: sealift-test-only
  tls: {certificate: $dir/server.crt, key: $dir/server.key}
auth:
  htpasswd: {realm: sealift-test, path: $dir/htpasswd}
# Manifests may name foreign layers on this machine's own HTTPS servers (the tests' file
# server); Distribution refuses manifests with layer URLs unless they match an allow rule.
validation:
  manifests:
    urls:
      allow: ['^https://127\\.0\\.0\\.1:[0-9]+/']
YAML
docker-registry serve config.yml > log 2>&1 &
echo $! > pid
for _ in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --cacert ca.crt "https://127.0.0.1:$port/v2/" || true)
    if [ "$code" = 401 ]; then echo "$port"; exit 0; fi
    sleep 0.1
done
echo "docker-registry did not start; log:" >&2; cat log >&2; exit 2
