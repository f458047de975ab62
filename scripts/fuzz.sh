#!/usr/bin/env bash
# Run sealift's fuzz targets (fuzz/fuzz_targets, bodies in src/fuzzing.rs) with cargo-fuzz and
# libFuzzer, each for SECONDS, and print one line per target: executions, speed, coverage,
# corpus size, peak memory, and the verdict. Not part of CI: CI runs the committed seeds once
# (tests/it/fuzz_corpus.rs).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      # default: 600 seconds, every target
#
# Needs a nightly Rust toolchain (rustup's `nightly`) for the sanitizer; installs cargo-fuzz
# from crates.io when it is missing. Inputs found are kept in fuzz/corpus/TARGET (not
# committed); a crash is written to fuzz/artifacts/TARGET and the script exits 1 after the
# remaining targets ran. Seeds are fuzz/seeds/TARGET; the Kubernetes YAML target also reads
# ../shared/manifests-corpus and ../shared/psa-fixtures when they are there.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=600
# The first argument is the time only when it is a number: `fuzz.sh sqlite` runs one target.
case ${1:-} in
    "" | *[!0-9]*) ;;
    *) seconds=$1; shift ;;
esac
all=(bundle manifests release_config kubernetes_yaml dpkg_status apk_installed rpm_header sqlite)
targets=("${@:-${all[@]}}")
for t in "${targets[@]}"; do
    [ -f "fuzz/fuzz_targets/$t.rs" ] || { echo "fuzz.sh: no target $t (targets: ${all[*]})" >&2; exit 2; }
done

rustup run nightly rustc --version >/dev/null 2>&1 || {
    echo "fuzz.sh: no nightly toolchain (rustup toolchain install nightly)" >&2
    exit 2
}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo +nightly fuzz build -O -a >/dev/null

mkdir -p fuzz/logs
failed=0
printf '%-16s %8s %12s %9s %7s %8s %8s  %s\n' target seconds executions exec/s cov corpus rss_mb verdict
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    extra=()
    if [ "$t" = kubernetes_yaml ]; then
        for d in ../shared/manifests-corpus ../shared/psa-fixtures; do [ -d "$d" ] && extra+=("$d"); done
    fi
    log="fuzz/logs/$t.log"
    verdict=ok
    # -timeout: one input taking longer is a finding (a hang); -rss_limit_mb: so is memory
    # growth past 2 GiB.
    if ! cargo +nightly fuzz run -O -a "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" "${extra[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=1048576 \
        -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" >"$log" 2>&1; then
        verdict="FAILED (see $log, fuzz/artifacts/$t)"
        failed=1
    fi
    # A target that crashed prints some of these and not others: a missing one is "-".
    stat() { grep -m1 "^stat::$1:" "$log" | awk '{print $2}' || true; }
    runs=$(stat number_of_executed_units)
    secs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | awk '{print $5}' | tail -1 || true)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}' || true)
    corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
    printf '%-16s %8s %12s %9s %7s %8s %8s  %s\n' "$t" "${secs:--}" "${runs:--}" "$(stat average_exec_per_sec)" \
        "${cov:--}" "$corpus" "$(stat peak_rss_mb)" "$verdict"
done
exit $failed
