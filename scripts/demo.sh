#!/usr/bin/env bash
# Runs the demo: installs the map's Leaflet from npm (first time only), builds kinga, loads the
# SYNTHETIC Kisumu election scenario into a fresh embedded store (data/demo.db) and serves the
# map at http://127.0.0.1:8080/ (the admin token is printed). Extra arguments go to `kinga demo`,
# e.g. ./scripts/demo.sh --addr 127.0.0.1:9000
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d web-map/node_modules/leaflet ]; then
  echo "installing the map's dependencies (npm ci)…" >&2
  (cd web-map && npm ci --no-audit --no-fund --loglevel=error)
fi
cargo build --release --quiet
exec "${CARGO_TARGET_DIR:-target}/release/kinga" demo "$@"
