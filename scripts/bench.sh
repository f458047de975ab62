#!/usr/bin/env bash
# Benchmark (not a test): bundle create, verify and load on a bundle of several hundred MB,
# with wall time and peak RSS for each step, next to skopeo doing the same pull and push.
#
#   scripts/bench.sh [MB_PER_IMAGE]     (default 150: two images, about 450 MB of blobs)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mb=${1:-150}
"$root/scripts/install-deps.sh"
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
sealift="$root/target/release/sealift"
work=$(mktemp -d)
trap 'for r in src dst sko; do "$root/scripts/registry.sh" stop "$work/$r"; done; rm -rf "$work"' EXIT
src=127.0.0.1:$("$root/scripts/registry.sh" start "$work/src" u p)
dst=127.0.0.1:$("$root/scripts/registry.sh" start "$work/dst" u p)
sko=127.0.0.1:$("$root/scripts/registry.sh" start "$work/sko" u p)
for r in src dst sko; do mkdir -p "$work/certs-$r" && cp "$work/$r/ca.crt" "$work/certs-$r/"; done

python3 "$root/scripts/make-image.py" "$work/layout" "$mb"
for img in web:1.0 tools:2.0; do
    skopeo copy --quiet --all --preserve-digests --insecure-policy --dest-cert-dir "$work/certs-src" \
        --dest-creds u:p "oci:$work/layout:$img" "docker://$src/bench/$img"
done
cd "$work"
printf 'name: bench\nimages:\n  - %s/bench/web:1.0\n  - %s/bench/tools:2.0\n' "$src" "$src" > sealift.yaml
export SEALIFT_PASSWORD=bench SEALIFT_REGISTRY_USERNAME=u SEALIFT_REGISTRY_PASSWORD=p
"$sealift" keys generate --dir keys >/dev/null

# measure NAME CMD...: wall seconds and peak RSS (MB) of one command.
measure() {
    local name=$1; shift
    /usr/bin/time -f '%e %M' -o "$work/time.$name" "$@" >/dev/null 2>"$work/err.$name" || { cat "$work/err.$name"; exit 1; }
    read -r secs kb < "$work/time.$name"
    awk -v n="$name" -v s="$secs" -v k="$kb" 'BEGIN { printf "%-34s %8.2f s %8.1f MB peak RSS\n", n, s, k/1024 }'
}
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
echo "== sealift"
measure "bundle create (pull + write)" "$sealift" bundle create -f sealift.yaml -o bench.tar --key keys/sealift.key --ca-file src/ca.crt
size=$(stat -c %s bench.tar)
measure "verify" "$sealift" verify bench.tar --key keys/sealift.pub
read -r vsecs _ < time.verify
awk -v b="$size" -v s="$vsecs" 'BEGIN { printf "%-34s %8.0f MB/s (bundle %.0f MB)\n", "verify throughput", b/1e6/s, b/1e6 }'
measure "load (verify + push)" "$sealift" load bench.tar --key keys/sealift.pub --registry "$dst" --ca-file dst/ca.crt
measure "load again (all blobs present)" "$sealift" load bench.tar --key keys/sealift.pub --registry "$dst" --ca-file dst/ca.crt

echo "== skopeo (same images, same registries' kind)"
measure "skopeo pull to oci layout" sh -c "for i in web:1.0 tools:2.0; do skopeo copy --quiet --all --preserve-digests --insecure-policy --src-cert-dir certs-src --src-creds u:p docker://$src/bench/\$i oci:$work/sk-layout:\$i; done"
measure "skopeo push from oci layout" sh -c "for i in web:1.0 tools:2.0; do skopeo copy --quiet --all --preserve-digests --insecure-policy --dest-cert-dir certs-sko --dest-creds u:p oci:$work/sk-layout:\$i docker://$sko/bench/\$i; done"
