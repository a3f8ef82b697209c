#!/usr/bin/env bash
# Runs every test of kinga: formatting, lints (warnings fail), unit, property, doc and
# integration tests. Usage: ./scripts/test.sh   (from anywhere; CI calls exactly this)
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUSTFLAGS="${RUSTFLAGS:-} -D warnings"
export RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -D warnings"

step() { printf '\n==> %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --all-targets --quiet -- -D warnings

step "cargo test (unit, property, doc, integration)"
cargo test --all-targets --quiet
cargo test --doc --quiet

echo "all tests passed" >&2
