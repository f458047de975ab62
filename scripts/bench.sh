#!/usr/bin/env bash
# Benchmark (not a test): `bundle create` and `load` next to skopeo doing the same pull and
# push, on two workloads, with wall time and peak RSS; medians of ROUNDS alternating rounds
# (odd rounds run sealift first, even rounds skopeo first), after a warm-up round that is
# not counted.
#
#   large  4 images, one with a 256 MiB layer and three with a 16 MiB one
#   many   40 images sharing an 8 MiB base layer, each with 256 KiB of its own
#
# Every tool pulls from the same loopback docker-registry (TLS + htpasswd) and pushes into an
# emptied one of its own each round. skopeo copies one image after another (`--all
# --preserve-digests`, into an OCI layout, then from it), as a script around it would; its
# blob-info cache is emptied between rounds so it does not carry knowledge across registries.
#
#   scripts/bench.sh [ROUNDS]     (default 3)
#
# What a round replaces (registry storage, the bundle, skopeo's layout and cache) is deleted
# before the round, then written out (`sync`), and the round starts 5 s later. Here (ext4
# without a journal) new inodes pass over ones deleted recently (5 s once the deletion is on
# disk, 300 s while it is not): a registry storing thousands of small files right after
# thousands were deleted spent ~0.35 s more system time on the 40-image load, which a
# registry in service does not.
#
# With SEALIFT_BENCH_PIN=1 the registries run on the last CPU and the tools on the others, as
# if the registry were another machine (on a 2-core machine each gets one core); by default
# all share every CPU, and a registry's work competes with the tool's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-3}
pin=${SEALIFT_BENCH_PIN:-}
if [ -n "$pin" ]; then
    cpus=$(nproc)
    [ "$cpus" -ge 2 ] || { echo "SEALIFT_BENCH_PIN needs at least 2 CPUs" >&2; exit 2; }
    registry_cpu=$((cpus - 1))
    tool_cpus="0-$((cpus - 2))"
    echo "pinned: registries on CPU $registry_cpu, tools on CPUs $tool_cpus"
fi
"$root/scripts/install-deps.sh"
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
sealift="$root/target/release/sealift"
work=$(mktemp -d)
trap 'for r in src dst sko; do "$root/scripts/registry.sh" stop "$work/$r"; done; rm -rf "$work"' EXIT
cd "$work"
export SEALIFT_PASSWORD=bench SEALIFT_REGISTRY_USERNAME=u SEALIFT_REGISTRY_PASSWORD=p SEALIFT_STATE_DIR="$work/state"
"$sealift" keys generate --dir keys >/dev/null

# start NAME: (re)start registry NAME with empty storage; its address goes to NAME.addr.
start() {
    local port
    "$root/scripts/registry.sh" stop "$work/$1"
    port=$("$root/scripts/registry.sh" start "$work/$1" u p)
    if [ -n "$pin" ]; then taskset -a -p -c "$registry_cpu" "$(cat "$work/$1/pid")" >/dev/null; fi
    echo "127.0.0.1:$port" > "$1.addr"
    mkdir -p "certs-$1" && cp "$1/ca.crt" "certs-$1/"
}
addr() { cat "$1.addr"; }
skopeo_fresh() { rm -rf /var/lib/containers/cache "$HOME/.local/share/containers/cache"; }
start src
skopeo=(skopeo copy --quiet --all --preserve-digests --insecure-policy)
for w in large many; do
    python3 "$root/scripts/bench-images.py" "gen-$w" "$w" > "$w.refs"
    while read -r ref; do
        "${skopeo[@]}" --dest-cert-dir certs-src --dest-creds u:p "oci:gen-$w:$ref" "docker://$(addr src)/$ref"
    done < "$w.refs"
    { echo "name: bench-$w"; echo "images:"; sed "s|^|  - $(addr src)/|" "$w.refs"; } > "$w.yaml"
    echo "workload $w: $(wc -l < "$w.refs") images, $(du -sm "gen-$w" | cut -f1) MB of blobs"
done
rm -rf gen-*

# measure TOOL WORKLOAD STEP CMD...: one timed run, appended to results as
# "workload step tool seconds kilobytes".
measure() {
    local tool=$1 w=$2 step=$3; shift 3
    if [ -n "$pin" ]; then set -- taskset -c "$tool_cpus" "$@"; fi
    /usr/bin/time -f '%e %M' -o time.out "$@" >/dev/null 2>err.out || { echo "$tool $step $w failed:"; cat err.out; exit 1; }
    read -r secs kb < time.out
    if [ "$round" -gt 0 ]; then echo "$w $step $tool $secs $kb" >> results; fi
    awk -v w="$w" -v s="$step" -v t="$tool" -v secs="$secs" -v kb="$kb" 'BEGIN { printf "  %-8s %-6s %-7s %7.2f s %7.1f MB\n", w, s, t, secs, kb / 1024 }'
}
# clean WORKLOAD: delete what the last round left (see the top).
clean() {
    local r
    for r in dst sko; do "$root/scripts/registry.sh" stop "$work/$r"; rm -rf "$work/$r/data"; done
    rm -rf "$1.tar" "sk-$1"
    skopeo_fresh
    sync
    sleep 5
}
sealift_run() {
    local w=$1 r=$2
    measure sealift "$w" create "$sealift" bundle create -f "$w.yaml" -o "$w.tar" --key keys/sealift.key --ca-file src/ca.crt
    measure sealift "$w" load "$sealift" load "$w.tar" --key keys/sealift.pub --registry "$(addr dst)" --ca-file dst/ca.crt
}
skopeo_run() {
    local w=$1 r=$2 ref
    measure skopeo "$w" create sh -c "while read -r ref; do ${skopeo[*]} --src-cert-dir certs-src --src-creds u:p \"docker://$(addr src)/\$ref\" \"oci:sk-$w:\$ref\" || exit 1; done < $w.refs"
    measure skopeo "$w" load sh -c "while read -r ref; do ${skopeo[*]} --dest-cert-dir certs-sko --dest-creds u:p \"oci:sk-$w:\$ref\" \"docker://$(addr sko)/\$ref\" || exit 1; done < $w.refs"
}
# Round 0 warms up and is not counted: the first steps after the setup ran slower for both
# tools (the 4-image create up to twice as slow), the machine still settling from writing and
# deleting the workloads.
for r in $(seq 0 "$rounds"); do
    round=$r
    if [ "$r" = 0 ]; then echo "round 0 (warm-up, not counted)"; else echo "round $r"; fi
    for w in large many; do
        clean "$w"
        start dst
        start sko
        if [ $((r % 2)) = 1 ]; then sealift_run "$w" "$r"; skopeo_run "$w" "$r"; else skopeo_run "$w" "$r"; sealift_run "$w" "$r"; fi
    done
done

echo
echo "medians of $rounds rounds (peak RSS: the largest of the rounds)"
python3 - results <<'PY'
import statistics, sys, collections
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    w, step, tool, secs, kb = line.split()
    runs[(w, step, tool)].append((float(secs), int(kb)))
print(f"{'workload':<8} {'step':<7} {'sealift':>9} {'skopeo':>9} {'ratio':>7} {'sealift RSS':>12} {'skopeo RSS':>11}")
for w in ("large", "many"):
    for step in ("create", "load"):
        s, k = runs[(w, step, "sealift")], runs[(w, step, "skopeo")]
        ms, mk = statistics.median(x for x, _ in s), statistics.median(x for x, _ in k)
        print(f"{w:<8} {step:<7} {ms:>7.2f} s {mk:>7.2f} s {ms / mk:>6.2f}x "
              f"{max(m for _, m in s) / 1024:>9.1f} MB {max(m for _, m in k) / 1024:>8.1f} MB")
PY
