// End-to-end test of the web map: a real `kinga demo` server and Debian's Chromium driven by
// playwright-core. Run through web-map/test.sh (which installs what it needs), or directly:
//   node --test web-map/e2e.test.mjs
// KINGA_BIN picks the binary; KINGA_WEB_DEV_DIR=web-map (the only KINGA_* variable passed on to
// the server) serves the page's files from disk, to test map edits without rebuilding kinga.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
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
const execFileP = promisify(execFile);

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
const publicRequests = []; // every URL the public page requested
const bodyTasks = [];
let streamText = ''; // what a public stream subscriber received during the test
let streamWindow = [0, 0]; // when it was read (ms)
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

/** The child's environment: no KINGA_* settings from the caller, except KINGA_WEB_DEV_DIR (serve the
 * page's files from a directory on each request, to iterate on the map without rebuilding). */
function childEnv() {
  return Object.fromEntries(Object.entries(process.env)
    .filter(([k]) => !k.startsWith('KINGA_') || k === 'KINGA_WEB_DEV_DIR'));
}

function startServer(port) {
  workDir = mkdtempSync(path.join(tmpdir(), 'kinga-map-e2e-'));
  const env = childEnv();
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
  const env = childEnv();
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
  page.on('request', (r) => publicRequests.push(r.url()));
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
    streamWindow = [Date.now(), 0];

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
    streamWindow[1] = Date.now();
    ac.abort();
    await reading;
  } finally {
    await ctx2.close();
  }
});

// ---------------------------------------------------------------- early warnings and patrol plans

/** A token for a role, made the way an operator makes one (`kinga token create`, same store). */
async function createToken(role) {
  const { stdout } = await execFileP(KINGA, ['token', 'create', '--role', role, '--name', `e2e-${role}`,
    '--database-url', 'sqlite://data/demo.db'], { cwd: workDir, env: childEnv(), timeout: 15_000 });
  const token = stdout.trim().split('\n').pop().trim();
  assert.match(token, /\S{16,}/, `kinga token create printed no token: ${stdout}`);
  return token;
}

async function apiAs(token, url, init = {}) {
  const r = await fetch(url.startsWith('http') ? url : `${base}${url}`, {
    ...init, headers: { Authorization: `Bearer ${token}`, ...(init.headers || {}) },
  });
  const text = await r.text();
  assert.ok(r.ok, `${init.method || 'GET'} ${url} → ${r.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** Posts a severity-5 report of a category at a point and verifies it (trigger categories open alerts). */
async function postVerified(category, coordinates) {
  const f = await adminJson('/api/v1/reports', {
    method: 'POST', headers: { 'Content-Type': 'application/geo+json' },
    body: JSON.stringify({
      type: 'Feature', geometry: { type: 'Point', coordinates },
      properties: { occurred_at: new Date().toISOString(), category, severity: 5 },
    }),
  });
  await adminJson(`/api/v1/reports/${f.id}/verification`, {
    method: 'PATCH', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ status: 'verified', note: 'e2e' }),
  });
  return f.id;
}

/** A signed-in page in its own browser context. */
async function signedInPage(token, role) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB', timezoneId: 'Africa/Nairobi' });
  const p = await ctx.newPage();
  p.on('pageerror', (e) => { serverLog += `\n[${role} page error] ${e.message}`; });
  const requests = [];
  p.on('request', (r) => requests.push(r.url()));
  await p.goto(`${base}/`);
  await p.fill('#token', token);
  await p.click('#signin button[type=submit]');
  await p.waitForFunction((r) => document.getElementById('role').textContent === r, role, { timeout: 10_000 });
  await p.waitForFunction(() => document.querySelector('#conn')?.dataset.state === 'live', null, { timeout: 10_000 });
  await settle(p);
  return { ctx, page: p, requests };
}

const activeAlerts = () => adminJson('/api/v1/alerts?status=active&limit=1000').then((b) => b.alerts);

/** Waits until the banner shows exactly what the API lists now (count and newest alert). */
async function bannerMatchesApi(p, timeout = 8_000) {
  const until = Date.now() + timeout;
  let want;
  let got;
  for (;;) {
    want = await activeAlerts();
    got = await p.evaluate(() => {
      const b = document.getElementById('alert-banner');
      return { hidden: b.hidden, count: Number(b.dataset.count), newest: b.dataset.newest, text: b.innerText };
    });
    if (!got.hidden && got.count === want.length && got.newest === (want[0] ? want[0].id : '')) break;
    assert.ok(Date.now() < until, `banner ${JSON.stringify(got)} ≠ API (${want.length} active, newest ${want[0]?.id})`);
    await sleep(150);
  }
  const n = want.length;
  assert.ok(got.text.includes(`${n} active alert${n === 1 ? '' : 's'}`), `banner text: ${got.text}`);
  if (n) assert.ok(got.text.includes(want[0].reason), `banner lacks the newest reason "${want[0].reason}": ${got.text}`);
  return want;
}

test('alerts (a): the banner and list show the API\'s alerts; acknowledge, action and resolve from the list; new alerts arrive live', async () => {
  // A verified killing opens a trigger alert (and, with the demo's history, risk/hotspot alerts).
  await postVerified('killing', [34.7530, -0.0990]);
  let listed = [];
  for (let i = 0; i < 40 && listed.length === 0; i += 1) {
    listed = await activeAlerts();
    if (!listed.length) await sleep(100);
  }
  assert.ok(listed.length >= 1, 'the demo and a verified killing opened no alert');

  const { ctx, page: p, requests } = await signedInPage(adminToken, 'admin');
  try {
    listed = await bannerMatchesApi(p);

    // The list: exactly the API's active alerts, newest first.
    await p.getByRole('button', { name: /active alert/ }).click();
    await p.locator('#alerts-panel').waitFor({ state: 'visible', timeout: 3_000 });
    assert.equal(await p.locator('#alert-banner').getAttribute('aria-expanded'), 'true');
    await p.waitForFunction((n) => document.querySelectorAll('#alert-list li').length === n, listed.length, { timeout: 3_000 });
    listed = await bannerMatchesApi(p);
    const ids = await p.$$eval('#alert-list li', (els) => els.map((e) => e.dataset.id));
    assert.deepEqual(ids, listed.map((a) => a.id), 'the list is the API\'s, in its order');
    const first = p.locator(`#alert-list li[data-id="${listed[0].id}"]`);
    const firstText = await first.innerText();
    for (const want of [listed[0].reason, /Open|Acknowledged/i, /Opened /]) {
      assert.ok(typeof want === 'string' ? firstText.includes(want) : want.test(firstText), `item lacks ${want}: ${firstText}`);
    }

    // Acknowledge the newest open alert with a note, through the UI.
    const target = listed.find((a) => a.status === 'open');
    assert.ok(target, 'no open alert to acknowledge');
    const item = p.locator(`#alert-list li[data-id="${target.id}"]`);
    await item.getByRole('button', { name: 'Acknowledge', exact: true }).click();
    await item.getByLabel('Note (optional)').fill('e2e: on our way');
    await item.getByRole('button', { name: 'Confirm acknowledgement' }).click();
    await p.waitForFunction((id) => document.querySelector(`#alert-list li[data-id="${id}"]`)?.dataset.status === 'acknowledged',
      target.id, { timeout: 5_000 });
    let detail = await adminJson(`/api/v1/alerts/${target.id}`);
    assert.equal(detail.status, 'acknowledged');
    const ack = detail.history.find((h) => h.status === 'acknowledged');
    assert.ok(ack, `no acknowledged step in ${JSON.stringify(detail.history)}`);
    assert.equal(ack.note, 'e2e: on our way');
    assert.equal(await item.getByRole('button', { name: 'Acknowledge', exact: true }).count(), 0, 'no second acknowledgement offered');
    assert.match(await item.locator('.ai-status').textContent(), /^Acknowledged$/);

    // Record an action (required text), then resolve without a note.
    await item.getByRole('button', { name: 'Record action' }).click();
    await item.getByLabel('What was done').fill('e2e: patrol sent to the area');
    await item.getByRole('button', { name: 'Save action' }).click();
    await item.locator('.ai-meta', { hasText: '1 action' }).waitFor({ timeout: 5_000 });
    detail = await adminJson(`/api/v1/alerts/${target.id}`);
    assert.deepEqual(detail.actions.map((x) => x.action), ['e2e: patrol sent to the area']);
    assert.equal(typeof detail.response_times_s.to_first_action, 'number');

    await item.getByRole('button', { name: 'Resolve' }).click();
    await item.getByRole('button', { name: 'Confirm resolution' }).click();
    await item.waitFor({ state: 'detached', timeout: 5_000 }); // gone from the active list
    detail = await adminJson(`/api/v1/alerts/${target.id}`);
    assert.equal(detail.status, 'resolved');
    assert.ok(detail.closed_at, 'a resolved alert has closed_at');
    const afterResolve = await bannerMatchesApi(p);
    assert.ok(!afterResolve.some((a) => a.id === target.id));

    // A new serious incident elsewhere: its alerts reach the banner and list through the stream
    // alone (the page does not ask for the list again).
    await settle(p); // the reload after the page's own step has finished
    const before = new Set(afterResolve.map((a) => a.id));
    const mark = requests.length;
    const started = Date.now();
    await postVerified('armed-clash', [34.8045, -0.1105]);
    let fresh = [];
    for (let i = 0; i < 50; i += 1) {
      fresh = (await activeAlerts()).filter((a) => !before.has(a.id));
      if (fresh.some((a) => a.kind === 'trigger')) break;
      await sleep(100);
    }
    const trigger = fresh.find((a) => a.kind === 'trigger');
    assert.ok(trigger, `no trigger alert for the verified armed clash: ${JSON.stringify(fresh.map((a) => a.kind))}`);
    assert.equal(trigger.reason, 'verified armed clash reported');
    const now = await bannerMatchesApi(p);
    console.log(`alerts: ${fresh.length} new alert(s) shown live ${Date.now() - started} ms after the report; ${now.length} active`);
    await p.waitForFunction((want) => want.every((id) => document.querySelector(`#alert-list li[data-id="${id}"]`)),
      fresh.map((a) => a.id), { timeout: 3_000 });
    const listIds = await p.$$eval('#alert-list li', (els) => els.map((e) => e.dataset.id));
    assert.deepEqual(listIds, now.map((a) => a.id), 'the live-updated list is the API\'s');
    const refetched = requests.slice(mark).filter((u) => /\/api\/v1\/alerts(\?|$)/.test(u));
    assert.deepEqual(refetched, [], 'the banner was updated from the stream, not by asking for the list');

    // Zoom to the new alert: the map centres on its cell's centroid, marked by a ring.
    await p.locator(`#alert-list li[data-id="${trigger.id}"]`).getByRole('button', { name: 'Zoom to area' }).click();
    await p.waitForFunction((id) => document.querySelector(`.kinga-alert-ring[data-alert="${id}"]`), trigger.id, { timeout: 3_000 });
    await settle(p);
    const off = await p.evaluate(() => {
      const r = document.querySelector('.kinga-alert-ring').getBoundingClientRect();
      const m = document.getElementById('map').getBoundingClientRect();
      return Math.hypot(r.x + r.width / 2 - (m.x + m.width / 2), r.y + r.height / 2 - (m.y + m.height / 2));
    });
    assert.ok(off < 4, `the alert ring is ${off.toFixed(1)} px from the map centre`);

    await p.click('#alerts-close');
    assert.equal(await p.locator('#alerts-panel').isHidden(), true);
  } finally {
    await ctx.close();
  }
});

/** Plans through the page's form and checks what is drawn against the API's own answer. */
async function checkPatrol(p, token, units, radius) {
  await p.keyboard.press('Escape');
  await p.click('.kinga-home');
  await settle(p);
  const section = p.locator('#patrol');
  assert.equal(await section.isVisible(), true, 'patrol planner shown');
  if (!(await section.getAttribute('open') !== null)) await p.click('#patrol summary');
  await p.getByLabel('Patrol units').fill(String(units));
  await p.getByLabel('Coverage radius (m)').fill(String(radius));
  const [resp] = await Promise.all([
    p.waitForResponse((r) => r.url().includes('/api/v1/patrol-plan'), { timeout: 10_000 }),
    p.getByRole('button', { name: 'Plan for this view' }).click(),
  ]);
  const url = new URL(resp.url());
  assert.equal(url.searchParams.get('units'), String(units));
  assert.equal(url.searchParams.get('radius_m'), String(radius));
  assert.ok(url.searchParams.get('bbox'), 'the plan is for the map bounds');
  await p.waitForFunction((n) => document.getElementById('patrol-summary').dataset.positions === String(n)
    && document.querySelectorAll('.kinga-patrol').length === n, units, { timeout: 10_000 });
  await settle(p);

  const api = await apiAs(token, url.toString());
  const { plan } = api;
  assert.equal(api.features.length, units, `the API placed ${api.features.length} of ${units} units`);
  const drawn = await p.$$eval('.kinga-patrol', (els) => els.map((e) => ({ cell: e.dataset.cell, rank: Number(e.dataset.rank) })));
  assert.deepEqual(drawn.sort((a, b) => a.rank - b.rank).map((d) => d.cell), api.features.map((f) => f.properties.cell));
  assert.equal(await p.locator('path.kinga-patrol-radius').count(), units, 'one radius circle per position');
  const covered = api.features.flatMap((f) => f.properties.covers);
  const cells = await p.$$eval('path.kinga-patrol-cell', (els) => els.map((e) => e.dataset.cell));
  assert.deepEqual(cells.sort(), [...covered].sort(), 'the covered cells are drawn');
  const summary = p.locator('#patrol-summary');
  assert.equal(await summary.getAttribute('data-share'), String(plan.share_covered));
  const text = await summary.innerText();
  const share = `${(plan.share_covered * 100).toFixed(1)} %`;
  assert.ok(text.includes(`${units} patrols cover ${share} of the risk in view`), `summary: ${text}`);
  assert.ok(text.includes(`${plan.covered_risk.toFixed(2)} of ${plan.total_risk.toFixed(2)}`), `summary: ${text}`);
  assert.ok(text.includes(`H3 res ${plan.res}`), `summary: ${text}`);
  const rows = await p.$$eval('#patrol-list li', (els) => els.map((e) => e.innerText));
  assert.equal(rows.length, units);
  api.features.forEach((f, i) => assert.ok(rows[i].includes(`${(f.properties.share * 100).toFixed(1)} %`), rows[i]));

  // A layer: hidden and shown again with its checkbox.
  await p.getByLabel('Show the patrol plan on the map').uncheck();
  assert.equal(await p.locator('.kinga-patrol, path.kinga-patrol-radius').count(), 0);
  await p.getByLabel('Show the patrol plan on the map').check();
  assert.equal(await p.locator('.kinga-patrol').count(), units);
  console.log(`patrol (${plan.res === 7 ? 'planner' : 'admin'}): ${units} units, ${radius} m, res ${plan.res}: ${share} covered, `
    + `${covered.length} cells, ${plan.method}`);
  return plan;
}

test('patrol plan (c): planner and admin see N positions, radii and covered cells with the API\'s covered share', async () => {
  const planner = await createToken('planner');
  const a = await signedInPage(planner, 'planner');
  try {
    const plan = await checkPatrol(a.page, planner, 3, 3000);
    assert.equal(plan.res, 7, 'a planner plans at the publication resolution');
    assert.equal(await a.page.locator('#alert-banner').isVisible(), true, 'planners see the alert banner');
  } finally {
    await a.ctx.close();
  }
  const b = await signedInPage(adminToken, 'admin');
  try {
    const plan = await checkPatrol(b.page, adminToken, 4, 1500);
    assert.equal(plan.res, 8);
  } finally {
    await b.ctx.close();
  }
});

test('alerts/patrol (b): the public view shows neither and never asks for them', async () => {
  await settle(page);
  assert.equal(await page.locator('#alert-banner').isHidden(), true, 'no alert banner');
  assert.equal((await page.locator('#alert-banner').textContent()).replace(/[⚠\s]|List ▾/g, ''), '', 'no banner content');
  assert.equal(await page.locator('#alerts-panel').isHidden(), true);
  assert.equal(await page.locator('#patrol').isHidden(), true, 'no patrol planner');
  assert.equal(await page.locator('.kinga-patrol, .kinga-alert-ring').count(), 0);
  const asked = publicRequests.filter((u) => /\/api\/v1\/(alerts|patrol-plan)/.test(u));
  assert.deepEqual(asked, [], 'the public page requested alerts or a patrol plan');
  assert.ok(publicRequests.length > 20, `too few requests recorded (${publicRequests.length})`);
  // Alerts opened while the public stream was read (test (d)); none reached it.
  const all = (await adminJson('/api/v1/alerts?status=all&limit=1000')).alerts;
  const during = all.filter((a) => Date.parse(a.opened_at) >= streamWindow[0] && Date.parse(a.opened_at) <= streamWindow[1]);
  assert.ok(during.length > 0, 'no alert opened while the public stream was read: the check below would prove nothing');
  assert.match(streamText, /event: cells/);
  assert.doesNotMatch(streamText, /event: alert/);
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
