#!/usr/bin/env bash
# End-to-end test of the web map (issue 5): builds kinga, starts `kinga demo`, drives Debian's
# Chromium with playwright-core and checks the map. Runnable from any directory, with no stdin.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"

# 1. A browser: Debian's chromium (playwright's own browser downloads are not used).
if [[ ! -x /usr/bin/chromium ]]; then
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "web-map/test.sh: /usr/bin/chromium is missing and this is not root; install Debian's chromium" >&2
    exit 1
  fi
  echo "web-map/test.sh: installing Debian's chromium" >&2
  apt-get update </dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium </dev/null
  if [[ ! -x /usr/bin/chromium ]]; then
    echo "web-map/test.sh: chromium installation failed: /usr/bin/chromium still missing" >&2
    exit 1
  fi
fi

# 2. npm packages (Leaflet for the page, playwright-core for the test) when missing or stale:
#    stale = node_modules' record (.package-lock.json) disagrees with package-lock.json.
stale="$(cd "$here" && node -e '
  const fs = require("fs");
  try {
    const want = JSON.parse(fs.readFileSync("package-lock.json", "utf8")).packages;
    const have = JSON.parse(fs.readFileSync("node_modules/.package-lock.json", "utf8")).packages;
    for (const [k, v] of Object.entries(want)) {
      if (k && (!have[k] || have[k].version !== v.version || !fs.existsSync(k))) { console.log("stale: " + k); process.exit(0); }
    }
    console.log("");
  } catch (e) { console.log("missing"); }
')"
if [[ -n "$stale" ]]; then
  echo "web-map/test.sh: npm ci ($stale)" >&2
  (cd "$here" && npm ci --no-audit --no-fund </dev/null)
fi

# 3. The server, debug profile (shares target/ with the rest of the test suite).
(cd "$root" && cargo build --quiet </dev/null)

# 4. The end-to-end test (node's built-in runner), against the binary just built wherever
#    cargo put it (CARGO_TARGET_DIR may point outside the checkout).
export KINGA_BIN="${KINGA_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/kinga}"
cd "$root"
node --test web-map/e2e.test.mjs </dev/null
