#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests (real registries).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
