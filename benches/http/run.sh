#!/usr/bin/env bash
# HTTP load benchmark (issue 4, DESIGN.md §8) with wrk from Debian against a release build on
# loopback. Loads ~1 M synthetic reports into a fresh embedded store, then measures: start-up
# time and resident memory with 1 M reports; warm tiles (cached bytes + ETag, 64 connections)
# and /healthz in the same run; cold tiles (every request a tile not yet built); report POSTs.
# Start-up and bulk ingest use both cores; for the request phases the server is pinned to core 1
# and wrk to core 0. Bulk ingest is measured into an empty store and into the 1 M store.
# Prints a Markdown summary for docs/perf.md.
#
# Usage: benches/http/run.sh [reports_per_day]   (default 48000 ≈ 1 M reports over 21 days)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
per_day=${1:-48000}
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
bin="$root/target/release/kinga"
work=$(mktemp -d /tmp/kinga-bench.XXXX)
port=$((20000 + RANDOM % 20000))
url="http://127.0.0.1:$port"
db="sqlite://$work/bench.db"
region="34.40,-0.45,35.40,0.05"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

echo "== generating and importing the scenario ($per_day background reports/day)" >&2
"$bin" demo --seed 7 --background-per-day "$per_day" --end "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --write-scenario "$work/scenario.ndjson"
n=$(wc -l < "$work/scenario.ndjson")
t0=$(date +%s.%N)
"$bin" --database-url "$db" --region "$region" import "$work/scenario.ndjson" --backfill 2>/dev/null
t1=$(date +%s.%N)
token=$("$bin" --database-url "$db" token create --role reporter)
admin=$("$bin" --database-url "$db" token create --role admin)
# 100 bulk bodies of 1 000 new reports (another seed: other ids) for the HTTP bulk-ingest figure.
"$bin" demo --seed 8 --background-per-day 4000 --end "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --write-scenario "$work/bulk.ndjson" >/dev/null
mkdir -p "$work/bulk" && head -n 100000 "$work/bulk.ndjson" | split -l 1000 - "$work/bulk/part-"
# The load generator is one client: lift the per-client rate limit and the in-flight cap so the
# figures measure the server, not its 429/503 answers (both are tested in tests/api).
printf '[limits]\nrate_per_minute = 1000000000\nmax_in_flight = 100000\n' > "$work/kinga.toml"

# POSTs the 100 bulk bodies from 4 curl clients; prints the seconds it took.
bulk_post() {
  local b0 b1
  b0=$(date +%s.%N)
  ls "$work"/bulk/part-* | xargs -P 4 -I{} curl -sf -o /dev/null -X POST "$1/api/v1/reports/bulk?backfill=true" \
    -H "Authorization: Bearer $2" -H 'Content-Type: application/x-ndjson' --data-binary @{}
  b1=$(date +%s.%N)
  echo "$b1 - $b0" | bc
}
bulk_n=$(cat "$work"/bulk/part-* | wc -l)

echo "== bulk ingest over HTTP into an empty store (both cores)" >&2
fresh_db="sqlite://$work/fresh.db"
fresh_url="http://127.0.0.1:$((port + 1))"
fresh_admin=$("$bin" --database-url "$fresh_db" --region "$region" token create --role admin)
"$bin" --config "$work/kinga.toml" --database-url "$fresh_db" --region "$region" --addr "127.0.0.1:$((port + 1))" serve 2>"$work/fresh.log" &
fresh_pid=$!
until curl -sf "$fresh_url/readyz" >/dev/null; do sleep 0.05; done
fresh_s=$(bulk_post "$fresh_url" "$fresh_admin")
fresh_stored=$(curl -sf "$fresh_url/metrics" | awk '/^kinga_engine_reports / {print $2}')
kill "$fresh_pid" && wait "$fresh_pid" || true

echo "== start-up with $n reports" >&2
start=$(date +%s.%N)
"$bin" --config "$work/kinga.toml" --database-url "$db" --addr "127.0.0.1:$port" serve 2>"$work/serve.log" &
pid=$!
until curl -sf "$url/readyz" >/dev/null; do sleep 0.05; done
ready=$(date +%s.%N)
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
# Ready means serving; early warning then runs its rules once over every stored cell (on this
# scenario it opens ~900 alerts, each a durable transaction, for about a second). Measure the
# steady state: wait until the log has been quiet for a second.
settle0=$(date +%s.%N)
prev=-1
until [ "$(wc -l < "$work/serve.log")" = "$prev" ]; do prev=$(wc -l < "$work/serve.log"); sleep 1; done
settled=$(date +%s.%N)
analyst=$("$bin" --database-url "$db" token create --role analyst)
# Start-up used both cores (the machine of DESIGN §8); the request phases pin every thread of
# the server to core 1 and run wrk on core 0, so server and load generator do not share a core.
taskset -a -cp 1 "$pid" >/dev/null

tile="$url/tiles/risk/13/4887/4098.geojson"
curl -sf "$tile" -o /dev/null
wrkrun() { taskset -c 0 wrk --latency -t2 -c"$1" -d"$2" "${@:3}" 2>&1; }
echo "== warm tile" >&2
warm=$(wrkrun 64 10s -H 'Accept-Encoding: gzip' "$tile")
health=$(wrkrun 64 10s "$url/healthz")
# The same tile for a signed-in analyst: finer cells (≈ 10 KB of GeoJSON) and a token lookup.
warm_an=$(wrkrun 64 10s -H 'Accept-Encoding: gzip' -H "Authorization: Bearer $analyst" "$tile")
size_pub=$(curl -s -H 'Accept-Encoding: gzip' "$tile" | wc -c)
size_an=$(curl -s -H 'Accept-Encoding: gzip' -H "Authorization: Bearer $analyst" "$tile" | wc -c)

cat > "$work/cold.lua" <<'LUA'
-- Every request a different tile at zoom 15-16 over Kisumu (≈ 9 000 tiles): cold builds.
local i = 0
request = function()
  i = i + 1
  local z = 15 + (i % 2)
  local n = 2 ^ z
  local x0 = math.floor((34.55 + 180) / 360 * n)
  local y0 = math.floor((1 - math.log(math.tan(math.rad(0.02)) + 1 / math.cos(math.rad(0.02))) / math.pi) / 2 * n)
  local w = 60 * (z - 13)
  local x = x0 + (i * 7919) % w
  local y = y0 + (math.floor(i / w) * 104729) % w
  return wrk.format("GET", "/tiles/risk/" .. z .. "/" .. x .. "/" .. y .. ".geojson")
end
LUA
echo "== cold tiles" >&2
cold=$(wrkrun 8 10s -s "$work/cold.lua" "$url")

cat > "$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/geo+json"
wrk.headers["Authorization"] = "Bearer $token"
local t = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() - 600)
wrk.body = '{"type":"Feature","geometry":{"type":"Point","coordinates":[34.7617,-0.0917]},"properties":{"occurred_at":"' .. t .. '","category":"rumour","severity":2}}'
LUA
echo "== report POSTs" >&2
post=$(wrkrun 16 10s -s "$work/post.lua" "$url/api/v1/reports")

echo "== bulk ingest over HTTP (NDJSON, 1 000 reports a request, 4 clients)" >&2
# Bulk ingest is measured with the server on both cores again.
taskset -a -cp 0,1 "$pid" >/dev/null
bulk_s=$(bulk_post "$url" "$admin")

pick() { echo "$1" | awk -v k="$2" '$1==k {print $2}'; }
rps() { echo "$1" | awk '/Requests\/sec/ {print $2}'; }
cat <<MD
| what | figure |
|---|---|
| reports loaded | $n (import --backfill: $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s, $(printf '%.0f' "$(echo "$n / ($t1 - $t0)" | bc -l)") reports/s through the CLI) |
| start-up to /readyz (both cores) | $(printf '%.2f' "$(echo "$ready - $start" | bc)") s |
| resident memory after start-up | $((rss_kb / 1024)) MiB |
| start-up rule pass (after /readyz) | done $(printf '%.1f' "$(echo "$settled - $settle0" | bc)") s later, $(grep -c "alert opened" "$work/serve.log") alerts opened |
| warm tile, 64 connections | $(rps "$warm") req/s, p50 $(pick "$warm" 50%), p99 $(pick "$warm" 99%) ($size_pub bytes gzip, public) |
| warm tile, analyst token, 64 connections | $(rps "$warm_an") req/s, p50 $(pick "$warm_an" 50%), p99 $(pick "$warm_an" 99%) ($size_an bytes gzip) |
| /healthz, 64 connections (same run) | $(rps "$health") req/s, p99 $(pick "$health" 99%) |
| cold tiles (z 15–16, each new), 8 connections | $(rps "$cold") req/s, p50 $(pick "$cold" 50%), p99 $(pick "$cold" 99%) |
| report POST (durable, 16 connections) | $(rps "$post") req/s, p99 $(pick "$post" 99%) |
| bulk POST into an empty store, NDJSON of 1 000, 4 clients (durable, both cores) | $(printf '%.0f' "$(echo "$bulk_n / $fresh_s" | bc -l)") reports/s ($fresh_stored stored in $(printf '%.1f' "$fresh_s") s) |
| bulk POST into the 1 M store, same bodies (durable, both cores) | $(printf '%.0f' "$(echo "$bulk_n / $bulk_s" | bc -l)") reports/s ($bulk_n in $(printf '%.1f' "$bulk_s") s) |
MD
echo "non-2xx: warm $(echo "$warm" | grep -c Non-2xx || true), cold $(echo "$cold" | awk '/Non-2xx/ {print $4}'), post $(echo "$post" | awk '/Non-2xx/ {print $4}')" >&2
