// End-to-end test of the web map: a real `kinga demo` server and Debian's Chromium driven by
// playwright-core. Run through web-map/test.sh (which installs what it needs), or directly:
//   node --test web-map/e2e.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const KINGA = process.env.KINGA_BIN || path.join(ROOT, 'target/debug/kinga');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT = path.join(ROOT, 'target/map-e2e.png');
const FIRST_VIEW_BUDGET = 500 * 1024;
const KISUMU = [34.7617, -0.0917];

let server; // child process
let serverLog = '';
let workDir;
let base;
let adminToken;
let browser;
let page; // public (no token)
let firstViewBytes = null;
let firstViewDetail = [];
const bodies = []; // every response body the public page received: {url, text}
const bodyTasks = [];
let streamText = ''; // what a public stream subscriber received during the test
let shot = false;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitReady(deadlineMs) {
  const until = Date.now() + deadlineMs;
  let last;
  while (Date.now() < until) {
    if (server.exitCode !== null) throw new Error(`kinga exited with ${server.exitCode}:\n${serverLog}`);
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.ok) return;
      last = `HTTP ${r.status}`;
    } catch (e) {
      last = e.message;
    }
    await sleep(150);
  }
  throw new Error(`kinga not ready after ${deadlineMs} ms (${last}):\n${serverLog}`);
}

function startServer(port) {
  workDir = mkdtempSync(path.join(tmpdir(), 'kinga-map-e2e-'));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KINGA_')));
  server = spawn(KINGA, ['demo', '--addr', `127.0.0.1:${port}`, '--basemap-url', '', '--web-dir', HERE], {
    cwd: workDir, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const token = new Promise((resolve, reject) => {
    server.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl).trim());
    });
    server.once('exit', (code) => reject(new Error(`kinga exited early (${code}):\n${serverLog}`)));
  });
  token.catch(() => {});
  server.stderr.on('data', (d) => { serverLog = (serverLog + d).slice(-20_000); });
  return token;
}

function killServer() {
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
}

/** Restarts the server on the same port and store (`kinga serve`, no demo reload). */
function restartServer(port) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KINGA_')));
  server = spawn(KINGA, ['serve', '--addr', `127.0.0.1:${port}`, '--database-url', 'sqlite://data/demo.db',
    '--basemap-url', '', '--web-dir', HERE], { cwd: workDir, env, stdio: ['ignore', 'ignore', 'pipe'] });
  server.stderr.on('data', (d) => { serverLog = (serverLog + d).slice(-20_000); });
}
process.on('exit', killServer);
// Never hang CI: whatever happens, the server dies and the run ends.
setTimeout(() => {
  console.error('e2e: overall time limit (180 s) reached');
  killServer();
  process.exit(1);
}, 180_000).unref();

async function adminJson(url, init = {}) {
  const r = await fetch(`${base}${url}`, {
    ...init, headers: { Authorization: `Bearer ${adminToken}`, ...(init.headers || {}) },
  });
  const text = await r.text();
  assert.ok(r.ok, `${init.method || 'GET'} ${url} → ${r.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** Every exact report coordinate, as the server prints it, paged through with the admin token. */
async function exactCoordinates() {
  const pairs = new Set();
  let cursor = '';
  for (let i = 0; i < 200; i += 1) {
    const page1 = await adminJson(`/api/v1/reports?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    for (const f of page1.features) {
      const [lon, lat] = f.geometry.coordinates;
      pairs.add(`${JSON.stringify(lon)},${JSON.stringify(lat)}`);
      pairs.add(`${lon.toFixed(6)},${lat.toFixed(6)}`);
    }
    if (!page1.next_cursor || page1.features.length === 0) break;
    cursor = page1.next_cursor;
  }
  return pairs;
}

/** Waits until the map is still: not moving, no refresh scheduled, no request in flight. */
async function settle(p, timeout = 15_000) {
  const still = () => {
    const m = document.getElementById('map').dataset;
    return m.ready === '1' && m.pending === '0' && m.scheduled !== '1' && m.moving !== '1';
  };
  await p.waitForFunction(still, null, { timeout, polling: 50 });
  await p.waitForTimeout(150);
  await p.waitForFunction(still, null, { timeout, polling: 50 });
}

const hexes = (p) => p.$$eval('.leaflet-risk-pane path.kinga-hex', (els) => els.map((e) => ({
  cell: e.dataset.cell, fill: e.getAttribute('fill'), score: e.dataset.score, cls: e.getAttribute('class'),
})));

async function screenshot() {
  if (!page || shot) return;
  try {
    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
    shot = true;
  } catch { /* best effort */ }
}

before(async () => {
  assert.ok(existsSync(KINGA), `${KINGA} missing: run cargo build`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install chromium`);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const token = startServer(port);
  const launching = chromium.launch({
    executablePath: CHROMIUM,
    // Playwright gives every launch a fresh temporary user-data-dir.
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  adminToken = await token;
  assert.match(adminToken, /\S{16,}/, 'the demo prints the admin token on stdout');
  await waitReady(40_000);
  browser = await launching;
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB', timezoneId: 'Africa/Nairobi' });
  page = await ctx.newPage();
  page.on('pageerror', (e) => { serverLog += `\n[page error] ${e.message}`; });
  page.on('response', (r) => {
    const type = r.headers()['content-type'] || '';
    if (type.includes('event-stream')) return; // never ends; checked through its own subscriber
    bodyTasks.push(r.body().then((b) => bodies.push({ url: r.url(), text: b.toString('utf8') }), () => {}));
  });
  await page.goto(`${base}/`, { waitUntil: 'load' });
  await settle(page, 20_000);
  await page.waitForFunction(() => document.querySelector('#conn')?.dataset.state === 'live', null, { timeout: 10_000 });
  await settle(page);
  const entries = await page.evaluate(() => [
    ...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource'),
  ].map((e) => ({ name: e.name, size: e.transferSize })));
  firstViewDetail = entries;
  firstViewBytes = entries.reduce((a, e) => a + (e.size || 0), 0);
}, { timeout: 90_000 });

after(async () => {
  await screenshot();
  try { if (browser) await browser.close(); } catch { /* already gone */ }
  killServer();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
}, { timeout: 30_000 });

test('(a) risk hexagons are drawn, with legend and hotspots', async () => {
  const h = await hexes(page);
  assert.ok(h.length > 0, 'no hexagon paths in the risk pane');
  assert.ok(h.every((x) => x.cell && /kinga-hex/.test(x.cls)), 'every hexagon carries its cell id');
  assert.ok(await page.locator('.kinga-legend').isVisible(), 'legend visible');
  assert.match(await page.locator('.kinga-legend').innerText(), /< 3 reports.*not low risk/i);
  assert.ok(await page.locator('#hotspot-list li').count() > 0, 'hotspot list filled');
  assert.equal(await page.locator('#role').innerText(), 'public');
  assert.ok(await page.locator('.leaflet-outline-pane path').count() > 0, 'region outline drawn');
});

test('(f) the first view transferred ≤ 500 KB', () => {
  const kb = (firstViewBytes / 1024).toFixed(1);
  console.log(`first view: ${kb} KB in ${firstViewDetail.length} responses`);
  for (const e of firstViewDetail.sort((a, b) => b.size - a.size).slice(0, 5)) {
    console.log(`  ${(e.size / 1024).toFixed(1).padStart(7)} KB  ${e.name.replace(base, '')}`);
  }
  assert.ok(firstViewBytes > 50_000, `implausibly small first view (${firstViewBytes} B): transferSize not reported?`);
  assert.ok(firstViewBytes <= FIRST_VIEW_BUDGET, `first view transferred ${kb} KB`);
});

test('(b) moving the time slider back several days changes the drawn cells', async () => {
  const now = await hexes(page);
  const slider = page.locator('#time-slider');
  const max = Number(await slider.getAttribute('max'));
  await slider.fill(String(max - 5 * 24)); // five days back, one-hour steps
  await page.waitForFunction(() => document.getElementById('map').dataset.at !== 'live', null, { timeout: 10_000 });
  await settle(page);
  const past = await hexes(page);
  const sig = (list) => list.map((x) => `${x.cell}:${x.fill}:${x.score}`).sort().join('|');
  assert.notEqual(sig(past), sig(now), 'the map did not change when going back five days');
  assert.match(await page.locator('#as-of').getAttribute('data-mode'), /past/);
  await page.click('#live');
  await page.waitForFunction(() => document.getElementById('map').dataset.at === 'live', null, { timeout: 10_000 });
  await settle(page);
  assert.ok((await hexes(page)).length > 0);
});

test('(c) clicking the first hotspot shows its drivers in a popup', async () => {
  const item = page.locator('#hotspot-list li').first();
  const listed = await item.locator('.hot-why').innerText();
  const firstCategory = listed.split(' · ')[0].replace(/\s+\d+%$/, '').trim();
  await item.locator('button').click();
  const popup = page.locator('.leaflet-popup-content .kinga-pop');
  await popup.waitFor({ state: 'visible', timeout: 5_000 });
  await page.locator('.kinga-drivers li').first().waitFor({ timeout: 5_000 });
  const text = await popup.innerText();
  assert.match(text, /What drives it/);
  assert.ok(text.includes(firstCategory), `popup lacks the top category "${firstCategory}":\n${text}`);
  assert.match(text, /\d+%/);
  assert.match(text, /Gi\* z/);
  assert.match(text, /Anomaly z/);
  assert.match(text, /Last report/);
  await settle(page);
  await screenshot(); // the review picture: map, legend, panel and an open hotspot popup
});

test('exports: the public may download cells and hotspots, not reports', async () => {
  await page.click('#export summary');
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout: 5_000 }),
    page.click('#export button[data-layer=cells][data-format=geojson]'),
  ]);
  assert.match(download.suggestedFilename(), /^kinga-cells-.*\.geojson$/);
  const text = await (await download.createReadStream()).toArray().then((c) => Buffer.concat(c).toString());
  assert.equal(JSON.parse(text).type, 'FeatureCollection');
  assert.equal(await page.locator('#export button[data-layer=reports]').first().isDisabled(), true);
});

test('(d) a posted report updates the map live within 2 s (public and signed-in views)', async () => {
  // A signed-in admin view next to the public one: it should pulse a marker for the report.
  const ctx2 = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const admin = await ctx2.newPage();
  try {
    await admin.goto(`${base}/`);
    await admin.fill('#token', adminToken);
    await admin.click('#signin button[type=submit]');
    await admin.waitForFunction(() => document.getElementById('role').textContent === 'admin', null, { timeout: 10_000 });
    await admin.waitForFunction(() => document.querySelector('#conn')?.dataset.state === 'live', null, { timeout: 10_000 });
    await settle(admin);
    assert.equal(await admin.locator('#export button[data-layer=reports]').first().isDisabled(), false);

    // The public page: whole region in view, live, connected.
    await page.keyboard.press('Escape');
    await page.click('.kinga-home');
    await settle(page);
    await page.waitForFunction(() => document.querySelector('#conn')?.dataset.state === 'live');
    const drawn = await hexes(page);
    assert.ok(drawn.every((x) => !/kinga-flash/.test(x.cls)), 'no hexagon flashing before the report');
    const before = new Map(drawn.map((x) => [x.cell, x.score]));

    // A public subscriber of the stream, read while the report goes in (for check (e)).
    const ac = new AbortController();
    const reading = (async () => {
      try {
        const r = await fetch(`${base}/api/v1/stream`, { signal: ac.signal });
        const dec = new TextDecoder();
        for await (const chunk of r.body) streamText += dec.decode(chunk, { stream: true });
      } catch { /* aborted */ }
    })();
    await sleep(300);

    const started = Date.now();
    const body = {
      type: 'Feature',
      geometry: { type: 'Point', coordinates: KISUMU },
      properties: { occurred_at: new Date().toISOString(), category: 'killing', severity: 5 },
    };
    await adminJson('/api/v1/reports', {
      method: 'POST', headers: { 'Content-Type': 'application/geo+json' }, body: JSON.stringify(body),
    });
    const left = () => Math.max(100, 2_000 - (Date.now() - started));
    const changed = await page.waitForFunction((prev) => {
      const els = [...document.querySelectorAll('.leaflet-risk-pane path.kinga-hex')];
      const hit = els.find((e) => prev[e.dataset.cell] !== undefined
        && (e.classList.contains('kinga-flash') || prev[e.dataset.cell] !== e.dataset.score));
      if (!hit) return false;
      const why = hit.classList.contains('kinga-flash') ? 'flashed by the cells event' : 're-scored';
      return `${why}: ${hit.dataset.cell} (score ${prev[hit.dataset.cell]} → ${hit.dataset.score})`;
    }, Object.fromEntries(before), { timeout: left(), polling: 50 });
    const publicMs = Date.now() - started;
    console.log(`public map: hexagon ${await changed.jsonValue()}`);
    await admin.locator('.kinga-pulse').first().waitFor({ state: 'attached', timeout: left() });
    const adminMs = Date.now() - started;
    console.log(`live update: public hexagon ${publicMs} ms, admin pulsing marker ${adminMs} ms`);
    assert.ok(adminMs <= 2_000);
    assert.match(await admin.locator('#activity-list').innerText(), /Killing/);
    await sleep(1_500); // let the revalidated tiles arrive (their bodies feed check (e))
    ac.abort();
    await reading;
  } finally {
    await ctx2.close();
  }
});

test('(e) the public view received no exact report coordinates', async () => {
  await settle(page);
  await Promise.all(bodyTasks);
  const exact = await exactCoordinates();
  exact.add(`${KISUMU[0]},${KISUMU[1]}`);
  assert.ok(exact.size > 100, `expected the demo's reports, got ${exact.size} coordinates`);
  const api = bodies.filter((b) => /\/(tiles|api)\//.test(b.url));
  assert.ok(api.length > 10, `too few API responses captured (${api.length})`);
  const leaks = [];
  for (const b of [...bodies, { url: 'stream (public subscriber)', text: streamText }]) {
    for (const c of exact) if (b.text.includes(c)) leaks.push(`${c} in ${b.url}`);
  }
  assert.deepEqual(leaks.slice(0, 10), [], 'exact coordinates reached the public view');
  assert.match(streamText, /event: hello/);
  console.log(`checked ${bodies.length} response bodies (${api.length} API/tiles) and the public stream against ${exact.size} exact coordinates`);
});

test('(g) the live feed reconnects by itself after a server restart', async () => {
  const state = () => page.evaluate(() => document.querySelector('#conn').dataset.state);
  assert.equal(await state(), 'live');
  const port = Number(new URL(base).port);
  killServer();
  await new Promise((r) => (server.exitCode !== null || server.signalCode !== null ? r() : server.once('exit', r)));
  await page.waitForFunction(() => document.querySelector('#conn').dataset.state === 'down', null, { timeout: 5_000 });
  const down = Date.now();
  restartServer(port);
  await waitReady(15_000);
  await page.waitForFunction(() => document.querySelector('#conn').dataset.state === 'live', null, { timeout: 20_000 });
  console.log(`reconnected ${Date.now() - down} ms after the connection dropped`);
  await settle(page);
  assert.ok((await hexes(page)).length > 0, 'hexagons drawn after the restart');
});
