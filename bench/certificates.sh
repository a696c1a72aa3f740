#!/usr/bin/env bash
# Certificate benchmark on a release build: median render time and file size, then N
# certificates (default 10,000) into a ZIP like the HR export.
#
#   bench/certificates.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/reperes-target}"
cargo run --release --locked --quiet --example certificate_bench -- "${1:-10000}"
