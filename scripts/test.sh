#!/usr/bin/env bash
# Runs every test of kinga: formatting, lints (warnings fail), unit, property, doc and
# integration tests on both store backends (a throwaway PostGIS is started here, on a private
# unix socket under target/), and the map's end-to-end test in headless Chromium.
#
# Usage: ./scripts/test.sh        (from anywhere; CI calls exactly this)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export RUSTFLAGS="${RUSTFLAGS:-} -D warnings"
export RUSTDOCFLAGS="${RUSTDOCFLAGS:-} -D warnings"

step() { printf '\n==> %s\n' "$*" >&2; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --all-targets --quiet -- -D warnings

step "build the tests"
cargo test --all-targets --no-run --quiet

step "xmllint (CAP 1.2 schema validation of the alert feed)"
if ! command -v xmllint >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "xmllint is missing and this is not root: apt-get install libxml2-utils" >&2
    exit 1
  fi
  apt-get -o DPkg::Lock::Timeout=300 update </dev/null >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends \
    libxml2-utils </dev/null >/dev/null
fi

step "throwaway PostGIS for the store contract suite"
# shellcheck source=scripts/pg-test-cluster.sh
source "$root/scripts/pg-test-cluster.sh"
pg_dir="$root/target/pg-test"
trap 'pg_test_stop "$pg_dir" || true' EXIT
pg_test_start "$pg_dir"

step "cargo test (unit, property, integration — SQLite and PostGIS)"
cargo test --all-targets --quiet
step "doc tests"
cargo test --doc --quiet

if [ -x "$root/web-map/test.sh" ]; then
  step "web map: end-to-end in headless Chromium"
  "$root/web-map/test.sh"
fi

echo "all tests passed" >&2
