#!/usr/bin/env bash
# Benchmark (not a test): `sealift check` against a registry holding IMAGES loaded images
# (default 200, in 20 repositories). Prints wall time, peak RSS and the registry requests
# (counted in docker-registry's own access log) of a full check, a --deep check, a first run
# with --state and a rerun with it; then the same per image, for sizing a larger site. Also
# what import receipts cost: a load without a site key, loads with one (reading the receipts
# already there, attaching a new one), and a check that verifies every image's receipt.
#
#   scripts/bench-check.sh [IMAGES]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
images=${1:-200}
"$root/scripts/install-deps.sh"
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
sealift="$root/target/release/sealift"
work=$(mktemp -d)
trap '"$root/scripts/registry.sh" stop "$work/dst"; rm -rf "$work"' EXIT
dst=127.0.0.1:$(SEALIFT_REGISTRY_LOG=info "$root/scripts/registry.sh" start "$work/dst" u p)
cd "$work"

# IMAGES small images: a shared 1 MiB base layer, a 64 KiB layer and a config of their own.
python3 - "$images" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
n = int(sys.argv[1]); out = "layout"
os.makedirs(f"{out}/blobs/sha256", exist_ok=True)
def blob(data, mt):
    d = hashlib.sha256(data).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(data)
    return {"mediaType": mt, "digest": f"sha256:{d}", "size": len(data)}
def layer(name, data):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))
    return blob(gzip.compress(raw.getvalue(), mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip")
base = layer("base.bin", os.urandom(1 << 20))
manifests = []
for i in range(n):
    own = layer(f"app-{i}.bin", os.urandom(64 << 10))
    config = blob(json.dumps({"architecture": "amd64", "os": "linux", "config": {"User": "65532"},
                              "rootfs": {"type": "layers", "diff_ids": []}, "n": i}).encode(),
                  "application/vnd.oci.image.config.v1+json")
    m = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                         "config": config, "layers": [base, own]}).encode(), "application/vnd.oci.image.manifest.v1+json")
    m["annotations"] = {"org.opencontainers.image.ref.name": f"img-{i}"}
    manifests.append(m)
json.dump({"schemaVersion": 2, "manifests": manifests}, open(f"{out}/index.json", "w"))
open(f"{out}/oci-layout", "w").write('{"imageLayoutVersion": "1.0.0"}')
with open("sealift.yaml", "w") as f:
    f.write("name: bench-check\nimages:\n")
    for i in range(n):
        f.write(f"  - ref: oci:./layout:img-{i}\n    name: bench/app-{i % 20}:v{i}\n")
PY
export SEALIFT_PASSWORD=bench SEALIFT_REGISTRY_USERNAME=u SEALIFT_REGISTRY_PASSWORD=p
export SEALIFT_STATE_DIR="$work/state-dir"
"$sealift" keys generate --dir keys >/dev/null
"$sealift" keys generate --dir site >/dev/null
"$sealift" bundle create -f sealift.yaml -o bench.tar --key keys/sealift.key >/dev/null 2>&1

requests() { grep -c 'response completed' dst/log || true; }
# measure NAME CMD...: wall seconds, peak RSS and registry requests of one check.
measure() {
    local name=$1; shift
    local before; before=$(requests)
    /usr/bin/time -f '%e %M' -o "time.$name" "$@" >"out.$name" 2>"err.$name" || { cat "err.$name"; exit 1; }
    read -r secs kb < "time.$name"
    local n=$(( $(requests) - before ))
    awk -v n="$name" -v s="$secs" -v k="$kb" -v r="$n" -v i="$images" \
        'BEGIN { printf "%-26s %8.2f s %7.1f MB %7d requests %6.2f requests/image %6.1f ms/image\n", n, s, k/1024, r, r/i, s*1000/i }'
}
load=("$sealift" load bench.tar --key keys/sealift.pub --registry "$dst" --ca-file dst/ca.crt)
echo "== sealift load, $images images in 20 repositories"
measure "load, no site key" "${load[@]}" --audit-log unsigned.log
measure "again, no site key" "${load[@]}" --audit-log unsigned.log
measure "again, --site-key" "${load[@]}" --audit-log signed.log --site-key site/sealift.key
measure "again, --site-key (2nd)" "${load[@]}" --audit-log signed.log --site-key site/sealift.key
check=("$sealift" check --registry "$dst" --bundle bench.tar --key keys/sealift.pub --ca-file dst/ca.crt --format json)
echo "== sealift check, $images images in 20 repositories ($(du -h bench.tar | cut -f1) bundle), --jobs 4"
measure "full" "${check[@]}"
measure "deep" "${check[@]}" --deep
measure "first run with --state" "${check[@]}" --state state
measure "rerun with --state" "${check[@]}" --state state
measure "full, receipts too" "${check[@]}" --site-pub site/sealift.pub
items=$(python3 -c 'import json,sys; print(json.load(open("out.full"))["summary"]["items"])')
echo "items per full check: $items"
