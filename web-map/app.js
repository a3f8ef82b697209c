// kinga web map: live risk hexagons, reports, replay, hotspots, exports, role-aware.
// Plain ES module, no bundler; Leaflet (window.L) is loaded before this file.
// Every piece of data reaches the page through textContent / DOM nodes, never innerHTML.
/* global L */

const LEVELS = ['low', 'elevated', 'high', 'critical'];
const LEVEL_COLOURS = { low: '#f2c14e', elevated: '#f08c2e', high: '#d7301f', critical: '#7f0000' };
const LEVEL_STROKES = { low: '#b8902a', elevated: '#b5641b', high: '#9c2014', critical: '#4a0000' };
const SEVERITY_COLOURS = ['#9e9ac8', '#9e9ac8', '#807dba', '#6a51a3', '#54278f', '#3f007d'];
const THIN_REPORTS = 3; // fewer reports than this: "data thin", drawn pale and hatched
const TREND = { rising: ['▲', 'rising'], steady: ['▶', 'steady'], falling: ['▼', 'falling'] };
const POINT_ROLES = new Set(['verifier', 'analyst', 'admin']);
const EXPORT_REPORT_ROLES = new Set(['analyst', 'verifier', 'admin']);
// The route policy: these roles may list alerts (and acknowledge, resolve, record actions) and
// receive the stream's alert events; everyone else never asks for them.
const ALERT_ROLES = new Set(['verifier', 'planner', 'analyst', 'admin']);
const ALERT_STEP_ROLES = new Set(['verifier', 'planner', 'analyst', 'admin']);
const PATROL_ROLES = new Set(['planner', 'analyst', 'admin']);
const ALERT_KINDS = {
  high_risk: 'High risk', spike: 'Spike in reports', hotspot: 'New hotspot', trigger: 'Serious incident',
  cluster: 'Mobilisation cluster',
};
const ALERT_STATUS_RANK = { open: 0, acknowledged: 1, closed: 2, resolved: 3 }; // a status never goes back
const ALERT_LIST_LIMIT = 500;
const ALERT_HISTORY_LIMIT = 200;
const HOUR = 3_600_000;
const MAX_CACHED_TILES = 600;
const LIVE_REFRESH_MS = 60_000;
const FLASH_MS = 6_000;
const PULSE_MS = 10 * 60_000;

const $ = (id) => document.getElementById(id);

/** Creates an element with a class and text (always textContent). */
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function label(slug) {
  if (!slug) return '';
  if (slug === 'gbv') return 'GBV';
  const s = String(slug).replace(/-/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function iso(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const fmtTime = new Intl.DateTimeFormat(undefined, {
  weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit',
});
const fmtClock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

function ago(ms) {
  const d = Math.max(0, Date.now() - ms);
  if (d < 90_000) return 'just now';
  const m = Math.round(d / 60_000);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(d / HOUR);
  if (h < 48) return `${h} h ago`;
  const days = Math.floor(h / 24);
  const rest = h % 24;
  return rest ? `${days} d ${rest} h ago` : `${days} d ago`;
}

/** How long before the viewed moment (now when live, the replayed time otherwise). */
function before(ms) {
  if (state.at === null) return ago(ms);
  const d = state.at - ms;
  if (d < 0) return 'after the viewed time';
  return `${ago(Date.now() - d).replace(' ago', '').replace('just now', 'moments')} before`;
}

function num(v, digits = 1) {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '—';
}

// ---------------------------------------------------------------- state

const state = {
  config: null,
  token: sessionStorage.getItem('kinga.token') || '',
  role: null, // from the stream's hello
  spanH: 168,
  stepMs: HOUR,
  anchor: 0, // slider's right end ("now", floored to the step)
  at: null, // null: live; else ms
  filters: { category: '', verification: '' },
  show: { risk: true, reports: true, ranks: true },
  selected: null, // selected cell id
  playing: false,
};

let map;
let pending = 0;

function setPending(delta) {
  pending = Math.max(0, pending + delta);
  map.getContainer().dataset.pending = String(pending);
  document.body.classList.toggle('loading', pending > 0);
}

function status(text, kind = '') {
  const s = $('status');
  s.textContent = text || '';
  s.dataset.kind = kind;
}

function authHeaders() {
  return state.token ? { Authorization: `Bearer ${state.token}` } : {};
}

class HttpError extends Error {
  constructor(status, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
  }
}

async function api(url, opts = {}) {
  setPending(1);
  try {
    const r = await fetch(url, { ...opts, headers: { ...authHeaders(), ...(opts.headers || {}) } });
    if (r.status === 401 && state.token) {
      signOut('The token was not accepted (expired or revoked). Showing the public view.');
    }
    return r;
  } finally {
    setPending(-1);
  }
}

async function apiJson(url, opts) {
  const r = await api(url, opts);
  if (!r.ok) {
    let msg = `HTTP ${r.status}`;
    try {
      const body = await r.json();
      if (body && body.errors && body.errors[0]) msg = body.errors[0].message;
    } catch { /* not JSON */ }
    throw new HttpError(r.status, msg);
  }
  return r.json();
}

// ---------------------------------------------------------------- zoom / view helpers

/** The integer zoom of the tiles (the map zooms in quarter steps; hexagons are vectors). */
function zoom() {
  return Math.max(0, Math.min(20, Math.floor(map.getZoom() + 1e-6)));
}

function seesPoints() {
  return POINT_ROLES.has(state.role);
}

/** The server's zoom → H3 resolution table (roles without point access always get the publication res). */
function resForZoom(z) {
  if (!seesPoints()) return (state.config && state.config.publication_res) || 7;
  if (z <= 8) return 5;
  if (z <= 10) return 6;
  if (z <= 12) return 7;
  if (z <= 14) return 8;
  return 9;
}

/** Highest zoom that still shows hexagons of a resolution. */
function zoomForRes(res) {
  return { 5: 8, 6: 10, 7: 12, 8: 14, 9: 16 }[res] || 12;
}

function clampLon(v) { return Math.max(-180, Math.min(180, v)); }
function clampLat(v) { return Math.max(-85, Math.min(85, v)); }

function viewBbox() {
  const b = map.getBounds();
  return [clampLon(b.getWest()), clampLat(b.getSouth()), clampLon(b.getEast()), clampLat(b.getNorth())]
    .map((v) => v.toFixed(5)).join(',');
}

function atParam(prefix = '&') {
  return state.at === null ? '' : `${prefix}at=${encodeURIComponent(iso(state.at))}`;
}

/** Tiles of the current zoom covering the view (padded) and the region (no data elsewhere). */
function visibleTiles() {
  const z = zoom();
  const n = 2 ** z;
  const view = map.getBounds().pad(0.15);
  const region = L.latLngBounds(state.config.bounds).pad(0.02);
  if (!view.intersects(region)) return [];
  const b = L.latLngBounds(
    [Math.max(view.getSouth(), region.getSouth()), Math.max(view.getWest(), region.getWest())],
    [Math.min(view.getNorth(), region.getNorth()), Math.min(view.getEast(), region.getEast())],
  );
  const nw = map.project(b.getNorthWest(), z).divideBy(256).floor();
  const se = map.project(b.getSouthEast(), z).divideBy(256).floor();
  const out = [];
  for (let x = nw.x; x <= se.x; x += 1) {
    for (let y = nw.y; y <= se.y; y += 1) {
      if (y < 0 || y >= n) continue;
      out.push({ z, x: ((x % n) + n) % n, y });
    }
  }
  return out.slice(0, 256);
}

// ---------------------------------------------------------------- GeoJSON tiles with ETag revalidation

class GeoTiles {
  /** kind: 'risk' | 'reports'; build(data, key) → Leaflet layer; group: where layers go. */
  constructor(kind, group, build, onRemove) {
    this.kind = kind;
    this.group = group;
    this.build = build;
    this.onRemove = onRemove || (() => {});
    this.shown = new Map(); // "z/x/y" → {url, etag, layer}
    this.cache = new Map(); // url → {etag, data} (LRU)
    this.inflight = new Map(); // url → {promise, ctrl}
    this.generation = 0;
    this.wanted = new Map();
  }

  url(t) {
    return `/tiles/${this.kind}/${t.z}/${t.x}/${t.y}.geojson${atParam('?')}`;
  }

  async load(url) {
    const running = this.inflight.get(url);
    if (running) return running.promise;
    const ctrl = new AbortController();
    const promise = (async () => {
      const cached = this.cache.get(url);
      const headers = cached && cached.etag ? { 'If-None-Match': cached.etag } : {};
      // We keep ETags ourselves; a 304 comes straight back to us (nothing re-downloaded).
      const r = await api(url, { headers, signal: ctrl.signal, cache: 'no-store' });
      if (r.status === 304 && cached) {
        this.cache.delete(url);
        this.cache.set(url, cached);
        return cached;
      }
      if (!r.ok) throw new HttpError(r.status);
      const entry = { etag: r.headers.get('ETag'), data: await r.json() };
      this.cache.delete(url);
      this.cache.set(url, entry);
      while (this.cache.size > MAX_CACHED_TILES) this.cache.delete(this.cache.keys().next().value);
      return entry;
    })();
    this.inflight.set(url, { promise, ctrl });
    try {
      return await promise;
    } finally {
      this.inflight.delete(url);
    }
  }

  /** Shows the wanted tiles; `revalidate` asks the server about tiles already shown. */
  async refresh(tiles, revalidate) {
    const gen = ++this.generation;
    const wanted = new Map(tiles.map((t) => [`${t.z}/${t.x}/${t.y}`, this.url(t)]));
    this.wanted = wanted;
    const wantedUrls = new Set(wanted.values());
    for (const [url, f] of this.inflight) if (!wantedUrls.has(url)) f.ctrl.abort();
    let failed = 0;
    await Promise.all([...wanted].map(async ([key, url]) => {
      const cur = this.shown.get(key);
      if (cur && cur.url === url && !revalidate) return;
      try {
        const entry = await this.load(url);
        if (this.wanted.get(key) !== url) return; // a newer refresh no longer wants it
        const now = this.shown.get(key);
        if (now && now.url === url && now.etag === entry.etag) return; // unchanged: keep the drawn layer
        const layer = this.build(entry.data, key);
        if (now) this.remove(key);
        this.group.addLayer(layer);
        this.shown.set(key, { url, etag: entry.etag, layer });
      } catch (e) {
        if (e.name !== 'AbortError') failed += 1;
      }
    }));
    if (gen !== this.generation) return;
    for (const key of [...this.shown.keys()]) if (!wanted.has(key)) this.remove(key);
    if (failed) status(`${failed} ${this.kind} tile(s) could not be loaded; retrying on the next update.`, 'warn');
  }

  remove(key) {
    const cur = this.shown.get(key);
    if (!cur) return;
    this.group.removeLayer(cur.layer);
    this.onRemove(cur.layer);
    this.shown.delete(key);
  }

  clear() {
    this.generation += 1;
    for (const f of this.inflight.values()) f.ctrl.abort();
    for (const key of [...this.shown.keys()]) this.remove(key);
    this.cache.clear();
  }

  /** Re-styles drawn layers (filters changed). */
  each(fn) {
    for (const s of this.shown.values()) fn(s.layer);
  }
}

// ---------------------------------------------------------------- risk layer

const cellIndex = new Map(); // cell id → path layer (the one drawn)
const flashing = new Map(); // cell id → until (ms)

function hexStyle(p) {
  const level = LEVEL_COLOURS[p.level] ? p.level : 'low';
  const thin = (p.reports || 0) < THIN_REPORTS;
  const selected = state.selected === p.cell;
  const z = map ? map.getZoom() : 12;
  const hotWeight = z < 10 ? 1.4 : z < 11 ? 2 : 2.6; // zoomed out, thick outlines would hide the colour
  return {
    fillColor: thin ? `url(#hatch-${level})` : LEVEL_COLOURS[level],
    fillOpacity: thin ? 1 : 0.66,
    color: selected ? '#1565c0' : p.hot ? '#111111' : LEVEL_STROKES[level],
    weight: selected ? 3.5 : p.hot ? hotWeight : 0.8,
    opacity: p.hot || selected ? 0.95 : 0.7,
    dashArray: thin && !p.hot ? '3 3' : null,
  };
}

function decorateHex(layer) {
  const e = layer.getElement && layer.getElement();
  if (!e) return;
  const p = layer.feature.properties;
  e.dataset.cell = p.cell;
  e.dataset.level = p.level;
  e.dataset.score = String(p.score);
  e.dataset.reports = String(p.reports);
  e.classList.toggle('hot', !!p.hot);
  e.classList.toggle('thin', (p.reports || 0) < THIN_REPORTS);
  const until = flashing.get(p.cell);
  e.classList.toggle('kinga-flash', !!until && until > Date.now());
}

function buildRisk(data) {
  const gj = L.geoJSON(data, {
    pane: 'risk',
    renderer: riskRenderer,
    className: 'kinga-hex',
    style: (f) => hexStyle(f.properties),
    onEachFeature: (f, layer) => {
      cellIndex.set(f.properties.cell, layer);
      layer.on('add', () => decorateHex(layer));
      layer.on('click', (ev) => {
        L.DomEvent.stopPropagation(ev);
        openCellPopup(f.properties, layer, ev.latlng);
      });
      layer.bindTooltip(() => el('span', null, `${label(f.properties.level)} · score ${num(f.properties.score, 0)}`
        + `${(f.properties.reports || 0) < THIN_REPORTS ? ' · few reports' : ''}`),
      { sticky: true, direction: 'top', className: 'kinga-tip', opacity: 0.92 });
    },
  });
  return gj;
}

function forgetRisk(layer) {
  layer.eachLayer((l) => {
    const c = l.feature && l.feature.properties.cell;
    if (c && cellIndex.get(c) === l) cellIndex.delete(c);
  });
}

function restyleCell(cell) {
  const l = cellIndex.get(cell);
  if (!l) return;
  l.setStyle(hexStyle(l.feature.properties));
  decorateHex(l);
}

function flashCell(cell) {
  flashing.set(cell, Date.now() + FLASH_MS);
  restyleCell(cell);
  setTimeout(() => {
    if ((flashing.get(cell) || 0) <= Date.now()) {
      flashing.delete(cell);
      restyleCell(cell);
    }
  }, FLASH_MS + 50);
}

// ---------------------------------------------------------------- reports layer

function reportVisible(p) {
  if (state.filters.category && p.category !== state.filters.category) return false;
  if (state.filters.verification && p.verification !== state.filters.verification) return false;
  return true;
}

function clusterIcon(count) {
  const size = Math.round(Math.min(36, 14 + Math.sqrt(count) * 2.5));
  const span = el('span', null, count > 999 ? `${Math.round(count / 1000)}k` : count);
  return L.divIcon({ className: 'kinga-cluster', html: span, iconSize: [size, size] });
}

function reportPopup(p, live) {
  const box = el('div', 'kinga-pop report');
  box.append(el('div', 'pop-title', label(p.category)));
  const dl = el('dl', 'kv');
  const row = (k, v) => { dl.append(el('dt', null, k), el('dd', null, v)); };
  row('Severity', `${p.severity} / 5`);
  row('Status', label(p.verification || 'unverified'));
  if (p.occurred_at) row('Occurred', `${fmtTime.format(new Date(p.occurred_at))} (${ago(Date.parse(p.occurred_at))})`);
  row('Location', p.location_precision === 'exact' ? 'exact point' : 'generalised to an area (privacy)');
  box.append(dl);
  if (live) box.append(el('p', 'muted small', 'New on the live feed.'));
  return box;
}

function buildReports(data, key) {
  const z = Number(String(key).split('/')[0]);
  return L.geoJSON(data, {
    pane: 'reports',
    pointToLayer: (f, latlng) => {
      const p = f.properties || {};
      if (p.cluster) {
        // Zoomed out: small dots that leave the hexagons readable; zoomed in: counted badges.
        const m = z >= 12
          ? L.marker(latlng, { icon: clusterIcon(p.count), pane: 'reports', keyboard: false })
          : L.circleMarker(latlng, {
            pane: 'reports', renderer: reportsRenderer, radius: Math.min(7, 2.5 + Math.sqrt(p.count) * 0.5),
            color: '#ffffff', weight: 1, fillColor: '#263238', fillOpacity: 0.55, className: 'kinga-cluster-dot',
          });
        m.bindTooltip(el('span', null, `${p.count} reports in this area`), { direction: 'top', className: 'kinga-tip' });
        m.on('click', () => map.setView(latlng, Math.min(map.getZoom() + 2, 18)));
        return m;
      }
      const m = L.circleMarker(latlng, {
        pane: 'reports',
        renderer: reportsRenderer,
        radius: 4 + (p.severity || 1) * 0.8,
        color: '#ffffff',
        weight: 1.2,
        fillColor: SEVERITY_COLOURS[p.severity || 1],
        fillOpacity: 0.9,
        dashArray: p.verification === 'verified' ? null : '2 2',
        className: 'kinga-report',
      });
      m.bindPopup(() => reportPopup(p, false));
      return m;
    },
  });
}

function applyReportFilters() {
  const apply = (l) => {
    const p = l.feature && l.feature.properties;
    if (!p || p.cluster) return;
    const show = reportVisible(p);
    const e = l.getElement && l.getElement();
    if (e) e.style.display = show ? '' : 'none';
  };
  reportTiles.each((gj) => gj.eachLayer(apply));
  liveLayer.eachLayer(apply);
}

// Live reports from the stream: pulsing markers, kept for a while.
function addLiveReport(feature) {
  const g = feature && feature.geometry;
  if (!g || g.type !== 'Point') return;
  const [lon, lat] = g.coordinates;
  const p = feature.properties || {};
  const icon = L.divIcon({ className: `kinga-pulse sev-${p.severity || 1}`, html: el('span'), iconSize: [16, 16] });
  const m = L.marker([lat, lon], { icon, pane: 'live', keyboard: false });
  m.feature = feature;
  m.bindPopup(() => reportPopup(p, true));
  liveLayer.addLayer(m);
  const e = m.getElement();
  if (e && !reportVisible(p)) e.style.display = 'none';
  setTimeout(() => { const x = m.getElement(); if (x) x.classList.add('settled'); }, 60_000);
  setTimeout(() => liveLayer.removeLayer(m), PULSE_MS);
  while (liveLayer.getLayers().length > 200) liveLayer.removeLayer(liveLayer.getLayers()[0]);
}

// ---------------------------------------------------------------- popups

function explainGi(p) {
  if (typeof p.gi_z !== 'number') return 'not computed';
  return p.hot || p.gi_z >= 1.96
    ? `${num(p.gi_z, 2)} — statistically hot (with neighbours, ≥ 1.96)`
    : `${num(p.gi_z, 2)} — not a significant cluster`;
}

function explainAnomaly(p) {
  if (typeof p.anomaly_z !== 'number') return '—';
  const z = p.anomaly_z;
  const word = z >= 3 ? 'far above usual' : z >= 1 ? 'above usual' : z > -1 ? 'about usual' : 'below usual';
  const extra = typeof p.expected === 'number' && typeof p.intensity === 'number'
    ? ` (now ${num(p.intensity)}, expected ${num(p.expected)})` : '';
  return `${num(z, 2)} — ${word}${extra}`;
}

function cellPopupContent(p, detailed, rank) {
  const box = el('div', 'kinga-pop cell');
  const head = el('div', 'pop-head');
  const pill = el('span', `pill level-${p.level}`, label(p.level));
  const title = el('span', 'pop-title', rank ? `#${rank} · score ${num(p.score, 0)} / 100` : `Score ${num(p.score, 0)} / 100`);
  head.append(pill, title);
  box.append(head);
  const [arrow, word] = TREND[p.trend] || ['', p.trend || '—'];
  const dl = el('dl', 'kv');
  const row = (k, v, cls) => { dl.append(el('dt', null, k), el('dd', cls, v)); };
  row('Trend', `${arrow} ${word} (vs 24 h earlier)`, `trend-${p.trend}`);
  row('Reports', String(p.reports ?? '—'));
  if (detailed) {
    row('Gi* z', explainGi(p));
    row('Anomaly z', explainAnomaly(p));
    if (p.last_report_at) {
      row('Last report', `${fmtTime.format(new Date(p.last_report_at))} (${before(Date.parse(p.last_report_at))})`);
    }
  } else {
    row('Hot spot', p.hot ? 'yes (Gi* significant)' : 'no');
  }
  box.append(dl);
  if ((p.reports || 0) < THIN_REPORTS) {
    box.append(el('p', 'warn small', 'Few reports here: the score is uncertain (pale ≠ low risk).'));
  }
  if (detailed) {
    const cats = Array.isArray(p.top_categories) ? p.top_categories : [];
    const drivers = el('div', 'drivers');
    drivers.append(el('div', 'sub', 'What drives it'));
    if (cats.length) {
      const ul = el('ul', 'kinga-drivers');
      for (const c of cats) {
        const li = el('li');
        const name = el('span', 'cat', label(c.category));
        const bar = el('span', 'bar');
        const fill = el('i');
        fill.style.width = `${Math.round(Math.max(0, Math.min(1, c.share)) * 100)}%`;
        bar.append(fill);
        li.append(name, bar, el('span', 'share', `${Math.round(c.share * 100)}%`));
        ul.append(li);
      }
      drivers.append(ul);
    } else {
      drivers.append(el('p', 'muted small', 'No category may be named at this resolution for your role.'));
    }
    box.append(drivers);
  } else {
    box.append(el('p', 'muted small loading-line', 'Loading drivers…'));
  }
  const foot = el('div', 'pop-foot muted small',
    `Cell ${p.cell} · H3 res ${p.res ?? '?'} · ${state.at === null ? 'live' : `as of ${fmtTime.format(new Date(state.at))}`}`);
  box.append(foot);
  return box;
}

let popupSeq = 0;

function openPopupAt(latlng, content) {
  return L.popup({ maxWidth: 320, minWidth: 240, autoPanPadding: [40, 40], className: 'kinga-popup' })
    .setLatLng(latlng).setContent(content).openOn(map);
}

/** The hexagon's centre (mean of its vertices) and a box well inside it. */
function hexBox(layer) {
  const ring = layer.getLatLngs().flat(2);
  const lat = ring.reduce((a, v) => a + v.lat, 0) / ring.length;
  const lng = ring.reduce((a, v) => a + v.lng, 0) / ring.length;
  const b = layer.getBounds();
  const d = Math.max(1e-5, (b.getNorth() - b.getSouth()) * 0.15);
  return { centre: L.latLng(lat, lng), bbox: [lng - d, lat - d, lng + d, lat + d].map((v) => v.toFixed(6)).join(',') };
}

async function openCellPopup(p, layer, latlng) {
  const seq = ++popupSeq;
  const { centre, bbox } = hexBox(layer);
  const popup = openPopupAt(latlng || centre, cellPopupContent(p, false));
  selectCell(p.cell);
  // The drivers come from /api/v1/cells with a tight box around the hexagon's centre.
  try {
    const fc = await apiJson(`/api/v1/cells?bbox=${bbox}&res=${p.res}${atParam()}`);
    if (seq !== popupSeq) return;
    const f = (fc.features || []).find((x) => x.properties && x.properties.cell === p.cell);
    if (f) {
      popup.setContent(cellPopupContent({ ...p, ...f.properties }, true));
    } else {
      const box = cellPopupContent(p, false);
      box.querySelector('.loading-line').textContent = 'Details are not published for this cell.';
      popup.setContent(box);
    }
  } catch (e) {
    if (seq === popupSeq) {
      const box = cellPopupContent(p, false);
      box.querySelector('.loading-line').textContent = `Details unavailable (${e.message}).`;
      popup.setContent(box);
    }
  }
}

function selectCell(cell) {
  const prev = state.selected;
  state.selected = cell;
  if (prev) restyleCell(prev);
  if (cell) restyleCell(cell);
}

// ---------------------------------------------------------------- hotspots

let hotspots = [];
let hotspotSeq = 0;

function hotspotItem(h) {
  const li = el('li');
  li.dataset.cell = h.cell;
  li.dataset.level = h.level;
  const b = el('button', 'hot-item');
  b.type = 'button';
  const rank = el('span', `rank level-${h.level}`, h.rank);
  const main = el('span', 'hot-main');
  const top = el('span', 'hot-top');
  const [arrow, word] = TREND[h.trend] || ['', ''];
  top.append(
    el('span', 'hot-score', `${label(h.level)} · ${num(h.score, 0)}`),
    el('span', `trend trend-${h.trend}`, `${arrow} ${word}`),
  );
  if (h.hot) top.append(el('span', 'badge', 'Gi* hot'));
  const cats = (h.top_categories || []).slice(0, 3).map((c) => `${label(c.category)} ${Math.round(c.share * 100)}%`);
  const why = el('span', 'hot-why', cats.length ? cats.join(' · ') : 'drivers not published at this resolution');
  const meta = el('span', 'hot-meta muted',
    `${h.reports} reports${h.last_report_at ? ` · last ${before(Date.parse(h.last_report_at))}` : ''}`);
  main.append(top, why, meta);
  b.append(rank, main);
  b.addEventListener('click', () => focusHotspot(h));
  li.append(b);
  return li;
}

let hotspotRes = null;
const NUDGES = [[0, 0], [0, -20], [0, 20], [-28, 0], [28, 0], [-26, -20], [26, -20], [-26, 20], [26, 20],
  [0, -40], [0, 40], [-54, 0], [54, 0]];

function renderHotspots(list, res = hotspotRes) {
  hotspotRes = res;
  const ol = $('hotspot-list');
  ol.replaceChildren(...list.map(hotspotItem));
  $('hot-res').textContent = res ? `H3 res ${res}` : '';
  const empty = $('hotspot-empty');
  empty.hidden = list.length > 0;
  empty.textContent = seesPoints()
    ? 'No scored cells in view at this time.'
    : `No published hotspot in view (cells with fewer than ${state.config.suppression_k} reports are not shown).`;
  rankLayer.clearLayers();
  if (!state.show.ranks) return;
  // Labels never pile up: each takes the first free spot on or around its cell's centre.
  const placed = [];
  const shown = zoom() <= 10 ? list.slice(0, 5) : list;
  for (const h of shown) {
    if (!Array.isArray(h.centroid)) continue;
    const w = h.trend === 'rising' ? 28 : 20;
    const c = map.latLngToContainerPoint([h.centroid[1], h.centroid[0]]);
    const lift = zoom() >= 12 ? -24 : 0; // zoomed in: above the centre, where report counts sit
    const spot = NUDGES.map(([dx, dy]) => ({ x: c.x + dx, y: c.y + dy + lift, w, dx, dy: dy + lift }))
      .find((q) => !placed.some((o) => Math.abs(o.x - q.x) * 2 < o.w + q.w + 2 && Math.abs(o.y - q.y) < 19));
    if (!spot) continue;
    placed.push(spot);
    const [arrow] = TREND[h.trend] || [''];
    const span = el('span', null, `${h.rank}${h.trend === 'rising' ? arrow : ''}`);
    const m = L.marker([h.centroid[1], h.centroid[0]], {
      icon: L.divIcon({
        className: `kinga-rank level-${h.level}${h.hot ? ' hot' : ''}`, html: span,
        iconSize: [w, 18], iconAnchor: [w / 2 - spot.dx, 9 - spot.dy],
      }),
      pane: 'labels',
      keyboard: false,
      riseOnHover: true,
    });
    m.on('click', () => focusHotspot(h));
    rankLayer.addLayer(m);
  }
}

async function loadHotspots() {
  const seq = ++hotspotSeq;
  const res = resForZoom(zoom());
  try {
    const body = await apiJson(`/api/v1/hotspots?limit=10&res=${res}&bbox=${viewBbox()}${atParam()}`);
    if (seq !== hotspotSeq) return;
    hotspots = body.hotspots || [];
    renderHotspots(hotspots, body.res);
  } catch (e) {
    if (seq === hotspotSeq) status(`Hotspots unavailable: ${e.message}`, 'warn');
  }
}

function focusHotspot(h) {
  const latlng = L.latLng(h.centroid[1], h.centroid[0]);
  const target = Math.max(zoom(), Math.min(zoomForRes(h.res), 13));
  const open = () => {
    ++popupSeq;
    openPopupAt(latlng, cellPopupContent(h, true, h.rank));
    selectCell(h.cell);
  };
  if (map.getCenter().distanceTo(latlng) < 50 && zoom() === target) {
    open();
  } else {
    map.once('moveend', open);
    map.flyTo(latlng, target, { duration: 0.8 });
  }
}

// ---------------------------------------------------------------- refresh orchestration

let riskTiles;
let reportTiles;
let riskRenderer;
let reportsRenderer;
let liveLayer;
let rankLayer;
let riskGroup;
let reportGroup;
let refreshTimer = null;
let hotspotTimer = null;
let lastRefresh = 0;

async function refreshTiles(revalidate) {
  const tiles = visibleTiles();
  const jobs = [];
  jobs.push(riskTiles.refresh(state.show.risk ? tiles : [], revalidate));
  jobs.push(reportTiles.refresh(state.show.reports ? tiles : [], revalidate));
  await Promise.all(jobs);
  lastRefresh = Date.now();
  $('updated').textContent = `updated ${fmtClock.format(new Date())}`;
  applyReportFilters();
}

async function refreshAll(revalidate) {
  await Promise.all([refreshTiles(revalidate), loadHotspots()]);
  if (patrol.plan) renderPatrolSummary(); // says whether the plan still matches the view and time
  map.getContainer().dataset.ready = '1';
  map.getContainer().dataset.at = state.at === null ? 'live' : iso(state.at);
}

function scheduleRefresh(delay, revalidate) {
  clearTimeout(refreshTimer);
  map.getContainer().dataset.scheduled = '1';
  refreshTimer = setTimeout(() => {
    map.getContainer().dataset.scheduled = '0';
    refreshAll(revalidate);
  }, delay);
}

function scheduleHotspots(delay) {
  clearTimeout(hotspotTimer);
  hotspotTimer = setTimeout(loadHotspots, delay);
}

// ---------------------------------------------------------------- time control

function stepFor(spanH) {
  if (spanH <= 1) return 5 * 60_000;
  if (spanH <= 6) return 15 * 60_000;
  return HOUR;
}

function steps() {
  return Math.round((state.spanH * HOUR) / state.stepMs);
}

function reanchor() {
  state.anchor = Date.now() - (Date.now() % state.stepMs);
}

function sliderTime(v) {
  const n = steps();
  return v >= n ? null : state.anchor - (n - v) * state.stepMs;
}

function syncSlider() {
  const s = $('time-slider');
  const n = steps();
  s.max = String(n);
  const v = state.at === null ? n : Math.max(0, n - Math.round((state.anchor - state.at) / state.stepMs));
  s.value = String(v);
  const start = state.anchor - n * state.stepMs;
  $('tick-start').textContent = fmtTime.format(new Date(start));
  for (const b of document.querySelectorAll('#time .seg button')) {
    b.setAttribute('aria-pressed', String(Number(b.dataset.span) === state.spanH));
  }
  showAsOf(sliderTime(v));
}

function showAsOf(t) {
  const box = $('as-of');
  box.dataset.mode = t === null ? 'live' : 'past';
  $('as-of-main').textContent = t === null ? 'Live — now' : fmtTime.format(new Date(t));
  $('as-of-rel').textContent = t === null
    ? 'updates as reports arrive'
    : `${ago(t)}${seesPoints() ? '' : ' (public view: whole hours)'}`;
  $('as-of').title = t === null ? '' : iso(t);
  const live = $('live');
  live.setAttribute('aria-pressed', String(t === null));
  document.body.classList.toggle('replay', t !== null);
}

function setAt(t, immediate = true) {
  state.at = t;
  showAsOf(t);
  if (immediate) {
    clearTimeout(refreshTimer);
    map.getContainer().dataset.scheduled = '0';
    refreshAll(false);
  } else {
    scheduleRefresh(250, false);
  }
}

function setSpan(h) {
  state.spanH = h;
  state.stepMs = stepFor(h);
  reanchor();
  if (state.at !== null) {
    const start = state.anchor - steps() * state.stepMs;
    let t = state.at - (state.at % state.stepMs);
    if (t < start) t = start;
    state.at = t;
  }
  syncSlider();
  refreshAll(false);
}

let playTimer = null;

function stopPlay() {
  state.playing = false;
  clearTimeout(playTimer);
  const b = $('play');
  b.setAttribute('aria-pressed', 'false');
  b.querySelector('[aria-hidden]').textContent = '▶';
  b.querySelector('.sr').textContent = 'Play';
}

async function playStep() {
  if (!state.playing) return;
  const s = $('time-slider');
  const v = Number(s.value) + 1;
  const began = Date.now();
  s.value = String(v);
  state.at = sliderTime(v);
  showAsOf(state.at);
  await refreshAll(false);
  if (!state.playing) return;
  if (state.at === null) { stopPlay(); return; }
  // Next frame when this one is drawn (slow links wait longer), at most ~1.5 frames a second.
  playTimer = setTimeout(playStep, Math.max(0, 650 - (Date.now() - began)));
}

function startPlay() {
  const s = $('time-slider');
  if (state.at === null) {
    reanchor();
    syncSlider();
    s.value = '0';
    state.at = sliderTime(0);
    showAsOf(state.at);
  }
  state.playing = true;
  const b = $('play');
  b.setAttribute('aria-pressed', 'true');
  b.querySelector('[aria-hidden]').textContent = '❚❚';
  b.querySelector('.sr').textContent = 'Pause';
  refreshAll(false).then(() => { playTimer = setTimeout(playStep, 500); });
}

// ---------------------------------------------------------------- live stream (SSE over fetch)

const stream = { gen: 0, ctrl: null, attempt: 0, lastData: 0, connected: false, everConnected: false, retryTimer: null };

function connState(s, text) {
  const c = $('conn');
  c.dataset.state = s;
  c.querySelector('.conn-text').textContent = text;
}

function activity(text, kind) {
  const ul = $('activity-list');
  const li = el('li', kind);
  li.append(el('time', 'muted', fmtClock.format(new Date())), el('span', null, text));
  ul.prepend(li);
  while (ul.children.length > 30) ul.lastChild.remove();
  $('activity-empty').hidden = true;
}

function handleEvent(name, data) {
  let body = null;
  try { body = data ? JSON.parse(data) : null; } catch { return; }
  switch (name) {
    case 'hello': {
      const role = body && body.role ? String(body.role) : 'public';
      const changed = role !== state.role;
      state.role = role;
      stream.attempt = 0;
      stream.connected = true;
      connState('live', 'live');
      showRole();
      if (state.token && changed) status(`Signed in: ${role} view.`);
      if (stream.everConnected || changed) scheduleRefresh(50, true); // missed events while away
      stream.everConnected = true;
      loadAlerts(); // (re)connected: the list as it is now, then live from the stream
      break;
    }
    case 'report': {
      const p = (body && body.properties) || {};
      addLiveReport(body);
      activity(`New report: ${label(p.category)} (severity ${p.severity})`, 'report');
      break;
    }
    case 'cells': {
      const cells = (body && body.cells) || [];
      if (state.at !== null) {
        activity(`Scores changed in ${cells.length} cell(s) — press Live to see them`, 'cells');
        break;
      }
      let hit = 0;
      for (const c of cells) {
        const l = cellIndex.get(c.cell);
        if (!l) continue;
        hit += 1;
        Object.assign(l.feature.properties, {
          score: c.score, level: c.level, hot: c.hot, trend: c.trend, reports: c.reports,
        });
        flashCell(c.cell);
      }
      if (hit) activity(`Risk updated in ${hit} cell(s) in view`, 'cells');
      // Neighbours (Gi*, spill-over) and newly published cells: revalidate the visible tiles.
      scheduleRefresh(300, true);
      break;
    }
    case 'alert': {
      const a = body || {};
      const kind = String(a.kind || 'early warning').replace(/_/g, ' ');
      const what = a.reason ? `${kind} — ${a.reason}` : kind;
      activity(`Alert ${a.event || a.status || ''}: ${what}`, 'alert');
      if (a.cell) flashCell(String(a.cell));
      alertEvent(a);
      break;
    }
    case 'resync':
      scheduleRefresh(50, true);
      loadAlerts(); // alert events may have been dropped too
      break;
    default:
  }
}

function parseBlock(block) {
  let name = 'message';
  const data = [];
  for (const line of block.split(/\r\n|\r|\n/)) {
    if (!line || line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') name = value;
    else if (field === 'data') data.push(value);
  }
  if (data.length || name !== 'message') handleEvent(name, data.join('\n'));
}

async function connect() {
  const gen = ++stream.gen;
  clearTimeout(stream.retryTimer);
  if (stream.ctrl) stream.ctrl.abort();
  const ctrl = new AbortController();
  stream.ctrl = ctrl;
  stream.connected = false;
  connState('connecting', 'connecting');
  let rejected = false;
  try {
    const r = await fetch('/api/v1/stream', {
      headers: { ...authHeaders(), Accept: 'text/event-stream' }, signal: ctrl.signal, cache: 'no-store',
    });
    if (r.status === 401 && state.token) {
      rejected = true;
      signOut('The token was not accepted. Showing the public view.');
      return;
    }
    if (!r.ok || !r.body) throw new HttpError(r.status);
    stream.lastData = Date.now();
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      stream.lastData = Date.now();
      buf += value;
      let m;
      while ((m = /\r\n\r\n|\n\n|\r\r/.exec(buf))) {
        const block = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        parseBlock(block);
      }
    }
  } catch (e) {
    // aborted or network error: fall through to reconnect
  } finally {
    if (gen === stream.gen && !rejected) {
      stream.connected = false;
      const delay = Math.min(30_000, 1000 * 2 ** stream.attempt);
      stream.attempt += 1;
      const until = Date.now() + delay;
      const tick = () => {
        if (gen !== stream.gen) return;
        const left = Math.ceil((until - Date.now()) / 1000);
        connState('down', left > 0 ? `reconnecting in ${left} s` : 'reconnecting');
        if (left > 0) stream.retryTimer = setTimeout(tick, 1000);
      };
      tick();
      setTimeout(() => { if (gen === stream.gen) connect(); }, delay);
    }
  }
}

// A half-open connection on a poor link stays silent: the server sends a keep-alive every 15 s.
setInterval(() => {
  if (stream.connected && Date.now() - stream.lastData > 45_000 && stream.ctrl) stream.ctrl.abort();
}, 5_000);
window.addEventListener('online', () => { stream.attempt = 0; if (!stream.connected) connect(); });

// ---------------------------------------------------------------- sign-in, roles, exports

function showRole() {
  const signedIn = !!state.token;
  $('signin').hidden = signedIn;
  $('signed-in').hidden = !signedIn;
  $('role').textContent = state.role || '…';
  document.body.dataset.role = state.role || '';
  const note = $('role-note');
  if (!state.role) note.textContent = '';
  else if (seesPoints()) note.textContent = 'Detailed view: exact report locations at zoom 14+, all resolutions.';
  else {
    note.textContent = `Aggregated view: hexagons of H3 resolution ${state.config.publication_res}; `
      + `areas with fewer than ${state.config.suppression_k} reports are not shown; verified reports only, generalised.`;
  }
  const canReports = EXPORT_REPORT_ROLES.has(state.role);
  for (const b of document.querySelectorAll('#export button[data-layer="reports"]')) b.disabled = !canReports;
  $('export-note').textContent = canReports
    ? 'Exports are recorded in the audit log.'
    : 'Reports export needs an analyst, verifier or admin token. Exports are recorded in the audit log.';
  renderLegendNote();
  syncRoleFeatures();
}

function resetForRole() {
  riskTiles.clear();
  reportTiles.clear();
  liveLayer.clearLayers();
  cellIndex.clear();
  rankLayer.clearLayers();
  map.closePopup();
  clearAlerts();
  clearPatrol();
  state.role = null;
  showRole();
  connect();
  refreshAll(false);
}

function signIn(token) {
  state.token = token.trim();
  if (!state.token) return;
  sessionStorage.setItem('kinga.token', state.token);
  $('token').value = '';
  status('Signed in; checking the token…');
  resetForRole();
}

function signOut(message) {
  state.token = '';
  sessionStorage.removeItem('kinga.token');
  status(message || 'Signed out: public view.', message ? 'warn' : '');
  resetForRole();
}

async function exportLayer(layer, format) {
  const res = resForZoom(zoom());
  const url = `/api/v1/export?layer=${layer}&format=${format}&bbox=${viewBbox()}&res=${res}${atParam()}`;
  status(`Preparing ${layer} ${format.toUpperCase()}…`);
  try {
    const r = await api(url);
    if (r.status === 403 || r.status === 401) throw new Error('your role may not export this layer');
    if (!r.ok) throw new HttpError(r.status);
    const blob = await r.blob();
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    const stamp = iso(state.at === null ? Date.now() : state.at).replace(/[:]/g, '');
    a.download = `kinga-${layer}-${stamp}.${format === 'csv' ? 'csv' : 'geojson'}`;
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    status(`Exported ${layer} (${Math.round(blob.size / 1024)} KB).`);
  } catch (e) {
    status(`Export failed: ${e.message}`, 'warn');
  }
}

// ---------------------------------------------------------------- early warnings (responder roles only)

const alerts = {
  byId: new Map(), // id → alert as last seen (list, stream, own steps)
  items: new Map(), // id → {li, parts…} of the drawn list
  stats: null,
  loaded: false,
  truncated: false,
  showAll: false,
  seq: 0,
  overlay: null, // stream events received while a list request runs (applied on top of it)
};
let alertFocus; // layer: the ring around the alert zoomed to

function mayReadAlerts() {
  return ALERT_ROLES.has(state.role);
}

/** RFC 3339 with up to nanoseconds → microseconds since the epoch (the server orders by micros). */
function micros(s) {
  const m = /^(.*:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(String(s || ''));
  if (!m) return 0;
  return Date.parse(m[1] + m[3]) * 1000 + Number((m[2] || '').padEnd(6, '0').slice(0, 6));
}

/** The server's order: opened_at newest first, then id. */
function newestFirst(x, y) {
  return micros(y.opened_at) - micros(x.opened_at) || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0);
}

function isActive(a) {
  return a.status === 'open' || a.status === 'acknowledged';
}

function kindLabel(kind) {
  return ALERT_KINDS[kind] || label(String(kind || 'alert').replace(/_/g, '-'));
}

/** Merges what we learn about an alert; an older message never takes its status back. */
function mergeAlert(prev, next) {
  if (!prev) return { ...next };
  const rp = ALERT_STATUS_RANK[prev.status] ?? -1;
  const rn = ALERT_STATUS_RANK[next.status] ?? -1;
  if (rn < rp) return { ...next, ...prev };
  return { ...prev, ...next };
}

function activeAlerts() {
  return [...alerts.byId.values()].filter(isActive).sort(newestFirst);
}

async function loadAlerts() {
  if (!mayReadAlerts()) return;
  const seq = ++alerts.seq;
  const role = state.role;
  alerts.overlay = new Map();
  try {
    const [active, all] = await Promise.all([
      apiJson(`/api/v1/alerts?status=active&limit=${ALERT_LIST_LIMIT}`),
      alerts.showAll ? apiJson(`/api/v1/alerts?status=all&limit=${ALERT_HISTORY_LIMIT}`) : null,
    ]);
    if (seq !== alerts.seq || state.role !== role) return;
    const byId = new Map();
    for (const a of all ? all.alerts : []) byId.set(a.id, a);
    for (const a of active.alerts) byId.set(a.id, mergeAlert(byId.get(a.id), a));
    for (const a of alerts.overlay.values()) byId.set(a.id, mergeAlert(byId.get(a.id), a));
    alerts.byId = byId;
    // The medians are over the listed alerts: only the history has resolved ones.
    alerts.stats = (all ? all.stats : active.stats) || null;
    alerts.truncated = active.alerts.length >= ALERT_LIST_LIMIT;
    alerts.loaded = true;
    alerts.overlay = null;
    renderAlerts();
  } catch (e) {
    if (seq === alerts.seq) status(`Alerts unavailable: ${e.message}`, 'warn');
  }
}

/** An `alert` event from the stream: opened, acknowledged, resolved, closed, action. */
function alertEvent(a) {
  if (!mayReadAlerts() || !a || !a.id) return;
  const { event, ...rest } = a;
  if (alerts.overlay) alerts.overlay.set(a.id, mergeAlert(alerts.overlay.get(a.id), rest));
  const prev = alerts.byId.get(a.id);
  const next = mergeAlert(prev, rest);
  // Only the active ones are kept unless the list shows the history too.
  if (isActive(next) || alerts.showAll) alerts.byId.set(a.id, next);
  else alerts.byId.delete(a.id);
  if (event === 'opened') {
    const b = $('alert-banner');
    b.classList.remove('fresh');
    void b.offsetWidth; // restart the animation
    b.classList.add('fresh');
    $('alert-live').textContent = `New alert: ${kindLabel(a.kind)} — ${a.reason || ''}`;
  }
  // The event does not carry the number of actions: ask for this one alert (idempotent).
  if (event === 'action' && prev) refreshAlert(a.id);
  renderAlerts();
}

async function refreshAlert(id) {
  const seq = alerts.seq;
  try {
    const d = await apiJson(`/api/v1/alerts/${encodeURIComponent(id)}`);
    if (seq !== alerts.seq || !alerts.byId.has(id)) return;
    const { event, history, actions, ...rest } = d;
    alerts.byId.set(id, mergeAlert(alerts.byId.get(id), { ...rest, actions: Array.isArray(actions) ? actions.length : undefined }));
    renderAlerts();
  } catch { /* the next list load has it */ }
}

function renderAlerts() {
  renderAlertBanner();
  if (!$('alerts-panel').hidden) renderAlertList();
}

function worstLevel(list) {
  let worst = -1;
  for (const a of list) worst = Math.max(worst, LEVELS.indexOf(a.level));
  return worst >= 0 ? LEVELS[worst] : 'none';
}

function renderAlertBanner() {
  const b = $('alert-banner');
  const show = mayReadAlerts() && alerts.loaded;
  b.hidden = !show;
  if (!show) {
    b.dataset.count = '0';
    $('alert-count').textContent = '';
    $('alert-newest').textContent = '';
    return;
  }
  const active = activeAlerts();
  const unacked = active.filter((a) => a.status === 'open').length;
  const newest = active[0];
  b.dataset.count = String(active.length);
  b.dataset.newest = newest ? newest.id : '';
  b.dataset.level = worstLevel(active);
  const n = `${active.length}${alerts.truncated ? '+' : ''}`;
  $('alert-count').textContent = active.length
    ? `${n} active alert${active.length === 1 ? '' : 's'}${unacked ? ` · ${unacked} not acknowledged` : ''}`
    : 'No active alerts';
  $('alert-newest').textContent = newest
    ? `Newest: ${newest.reason} — ${kindLabel(newest.kind)}, ${label(newest.level)}, ${ago(micros(newest.opened_at) / 1000)}`
    : 'The early-warning monitor is running.';
  b.title = active.length ? 'Show the alert list' : 'Show recent alerts';
}

function setAlertPanel(open) {
  const panel = $('alerts-panel');
  const b = $('alert-banner');
  if (open && !mayReadAlerts()) return;
  panel.hidden = !open;
  b.setAttribute('aria-expanded', String(open));
  if (open) {
    renderAlertList();
    $('alerts-h').focus();
  }
}

function alertStats() {
  const st = alerts.stats;
  if (!st) return '';
  const dur = (s) => {
    if (typeof s !== 'number') return '—';
    if (s < 90) return `${Math.round(s)} s`;
    if (s < 5400) return `${Math.round(s / 60)} min`;
    return `${(s / 3600).toFixed(1)} h`;
  };
  return `Median time to acknowledge ${dur(st.median_time_to_ack_s)} · to first action ${dur(st.median_time_to_first_action_s)}`
    + ` · to resolve ${dur(st.median_time_to_resolve_s)} (${alerts.showAll ? `last ${st.alerts} alerts` : 'active alerts'}).`;
}

function renderAlertList() {
  const ul = $('alert-list');
  const list = (alerts.showAll ? [...alerts.byId.values()] : activeAlerts()).sort(newestFirst);
  const wanted = new Set(list.map((a) => a.id));
  for (const [id, item] of alerts.items) {
    if (!wanted.has(id)) {
      item.li.remove();
      alerts.items.delete(id);
    }
  }
  // Keyed update: an item being edited (a note half typed) keeps its node, its text and focus.
  list.forEach((a, i) => {
    let item = alerts.items.get(a.id);
    if (!item) {
      item = alertItem(a.id);
      alerts.items.set(a.id, item);
    }
    fillAlertItem(item, a);
    if (ul.children[i] !== item.li) ul.insertBefore(item.li, ul.children[i] || null);
  });
  const empty = $('alerts-empty');
  empty.hidden = list.length > 0;
  empty.textContent = alerts.showAll ? 'No alerts yet.' : 'No active alerts.';
  $('alerts-stats').textContent = alertStats();
}

function alertItem(id) {
  const li = el('li', 'alert-item');
  li.dataset.id = id;
  const top = el('div', 'ai-top');
  const reason = el('div', 'ai-reason');
  reason.id = `alert-reason-${id}`;
  const meta = el('div', 'ai-meta muted');
  const actions = el('div', 'ai-actions');
  const button = (text, act) => {
    const b = el('button', 'btn small', text);
    b.type = 'button';
    b.dataset.act = act;
    b.setAttribute('aria-describedby', reason.id);
    actions.append(b);
    return b;
  };
  const item = { id, li, top, reason, meta, form: el('form', 'ai-form'), step: null };
  item.zoom = button('Zoom to area', 'zoom');
  item.ack = button('Acknowledge', 'ack');
  item.resolve = button('Resolve', 'resolve');
  item.act = button('Record action', 'action');
  item.form.hidden = true;
  item.zoom.addEventListener('click', () => focusAlert(alerts.byId.get(id)));
  for (const step of ['ack', 'resolve', 'act']) {
    item[step].addEventListener('click', () => openStepForm(item, step === 'act' ? 'action' : step));
  }
  item.form.addEventListener('submit', (e) => { e.preventDefault(); submitStep(item); });
  li.append(top, reason, meta, actions, item.form);
  return item;
}

function fillAlertItem(item, a) {
  const { li } = item;
  li.className = `alert-item level-${a.level}`;
  li.dataset.status = a.status;
  li.dataset.kind = a.kind;
  const status = el('span', `ai-status status-${a.status}`, label(a.status));
  item.top.replaceChildren(
    el('span', `pill level-${a.level}`, label(a.level)),
    el('span', 'ai-kind', kindLabel(a.kind)),
    status,
  );
  item.reason.textContent = a.reason || '';
  const opened = micros(a.opened_at) / 1000;
  const bits = [`Opened ${fmtTime.format(new Date(opened))} (${ago(opened)})`, `score ${num(a.score, 0)}`];
  if (typeof a.actions === 'number') bits.push(`${a.actions} action${a.actions === 1 ? '' : 's'}`);
  if (a.closed_at) bits.push(`${a.status === 'resolved' ? 'resolved' : 'closed'} ${fmtTime.format(new Date(micros(a.closed_at) / 1000))}`);
  item.meta.textContent = bits.join(' · ');
  const may = ALERT_STEP_ROLES.has(state.role);
  item.zoom.hidden = !Array.isArray(a.centroid);
  item.ack.hidden = !may || a.status !== 'open';
  item.resolve.hidden = !may || a.status === 'resolved';
  item.act.hidden = !may;
  if (item.step && item[item.step === 'action' ? 'act' : item.step].hidden) closeStepForm(item);
}

const STEP_TEXT = {
  ack: { title: 'Acknowledge', field: 'Note (optional)', submit: 'Confirm acknowledgement', done: 'acknowledged', path: 'ack' },
  resolve: { title: 'Resolve', field: 'Note (optional)', submit: 'Confirm resolution', done: 'resolved', path: 'resolve' },
  action: { title: 'Record an action on', field: 'What was done', submit: 'Save action', done: 'action recorded', path: 'actions' },
};

function openStepForm(item, step) {
  const t = STEP_TEXT[step];
  item.step = step;
  const f = item.form;
  f.setAttribute('aria-label', `${t.title} the alert: ${item.reason.textContent}`);
  const field = el('label', 'small', t.field);
  const input = el('input');
  input.type = 'text';
  input.name = 'text';
  input.maxLength = 2000;
  input.autocomplete = 'off';
  input.required = step === 'action';
  field.append(input);
  const row = el('div', 'row');
  const submit = el('button', 'btn small primary', t.submit);
  submit.type = 'submit';
  const cancel = el('button', 'btn small', 'Cancel');
  cancel.type = 'button';
  cancel.addEventListener('click', () => closeStepForm(item, true));
  row.append(submit, cancel);
  const err = el('p', 'ai-error small');
  err.setAttribute('role', 'alert');
  err.hidden = true;
  f.replaceChildren(field, row, err);
  f.hidden = false;
  input.focus();
}

function closeStepForm(item, refocus) {
  const { step } = item;
  item.step = null;
  item.form.hidden = true;
  item.form.replaceChildren();
  if (refocus && step) {
    const b = item[step === 'action' ? 'act' : step];
    (b.hidden ? item.zoom : b).focus();
  }
}

async function submitStep(item) {
  const { step } = item;
  if (!step) return;
  const t = STEP_TEXT[step];
  const input = item.form.querySelector('input');
  const err = item.form.querySelector('.ai-error');
  const text = input.value.trim();
  if (step === 'action' && !text) {
    err.textContent = 'Say what was done.';
    err.hidden = false;
    input.focus();
    return;
  }
  const body = step === 'action' ? { action: text } : (text ? { note: text } : {});
  for (const b of item.form.querySelectorAll('button')) b.disabled = true;
  try {
    const a = await apiJson(`/api/v1/alerts/${encodeURIComponent(item.id)}/${t.path}`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    const { event, ...rest } = a;
    alerts.byId.set(a.id, mergeAlert(alerts.byId.get(a.id), rest));
    closeStepForm(item, true);
    status(`Alert ${t.done}: ${a.reason}`);
    renderAlerts();
    loadAlerts(); // action counts and response times come from the list
  } catch (e) {
    for (const b of item.form.querySelectorAll('button')) b.disabled = false;
    err.textContent = e.status === 422 ? `Not possible: ${e.message}` : `Failed: ${e.message}`;
    err.hidden = false;
    if (e.status === 422) loadAlerts(); // someone else moved it on
  }
}

function focusAlert(a) {
  if (!a || !Array.isArray(a.centroid)) return;
  const latlng = L.latLng(a.centroid[1], a.centroid[0]);
  alertFocus.clearLayers();
  const ring = L.circleMarker(latlng, {
    pane: 'labels', radius: 22, color: '#c62828', weight: 3, opacity: 0.95, fill: false,
    interactive: false, className: 'kinga-alert-ring',
  });
  ring.bindTooltip(el('span', null, `${kindLabel(a.kind)}: ${a.reason}`), {
    permanent: true, direction: 'top', offset: [0, -20], className: 'kinga-tip',
  });
  alertFocus.addLayer(ring);
  const e = ring.getElement();
  if (e) e.dataset.alert = a.id;
  if (window.matchMedia('(max-width: 760px)').matches) setAlertPanel(false); // the list covers the map there
  const target = Math.max(zoom(), 13);
  map.flyTo(latlng, target, { duration: 0.8 });
  map.once('moveend', () => { if (a.cell) flashCell(String(a.cell)); });
}

function clearAlerts() {
  alerts.seq += 1;
  alerts.byId = new Map();
  for (const item of alerts.items.values()) item.li.remove();
  alerts.items.clear();
  alerts.loaded = false;
  alerts.stats = null;
  alerts.overlay = null;
  if (alertFocus) alertFocus.clearLayers();
  setAlertPanel(false);
  renderAlertBanner();
}

// ---------------------------------------------------------------- patrol plan (planner, analyst, admin)

const patrol = { seq: 0, plan: null, viewKey: '' };
let patrolLayer;
let patrolRenderer;

function mayPlan() {
  return PATROL_ROLES.has(state.role);
}

function pct(share) {
  return `${(share * 100).toFixed(1)} %`;
}

/** A box around the positions holding every covered cell's centre (≤ radius from a position). */
function coverBbox(features, radiusM) {
  let [w, s, e, n] = [180, 90, -180, -90];
  for (const f of features) {
    const [lon, lat] = f.geometry.coordinates;
    const dLat = (radiusM * 1.05) / 110_574 + 1e-4;
    const dLon = (radiusM * 1.05) / (111_320 * Math.max(0.01, Math.cos((lat * Math.PI) / 180))) + 1e-4;
    w = Math.min(w, lon - dLon); e = Math.max(e, lon + dLon);
    s = Math.min(s, lat - dLat); n = Math.max(n, lat + dLat);
  }
  return [clampLon(w), clampLat(s), clampLon(e), clampLat(n)].map((v) => v.toFixed(5)).join(',');
}

function viewKey() {
  return `${viewBbox()}|${state.at}`;
}

async function planPatrol() {
  if (!mayPlan()) return;
  const unitsIn = $('patrol-units');
  const radiusIn = $('patrol-radius');
  if (!unitsIn.checkValidity() || !radiusIn.checkValidity()) {
    (unitsIn.checkValidity() ? radiusIn : unitsIn).reportValidity();
    return;
  }
  const units = Number(unitsIn.value);
  const radius = Number(radiusIn.value);
  const seq = ++patrol.seq;
  const key = viewKey();
  // Neighbourhood cells (res 8) for patrol-sized radii, finer ones for short foot patrols; roles
  // with aggregated access get the publication resolution whatever is asked.
  const res = radius < 400 ? 9 : 8;
  const q = `units=${units}&radius_m=${radius}&res=${res}&bbox=${viewBbox()}${atParam()}`;
  $('patrol-run').disabled = true;
  $('patrol-summary').textContent = 'Planning…';
  try {
    const fc = await apiJson(`/api/v1/patrol-plan?${q}&format=geojson`);
    if (seq !== patrol.seq) return;
    const covered = new Set(fc.features.flatMap((f) => f.properties.covers || []));
    let cells = [];
    if (covered.size) {
      // The plan names the cells; their outlines come from the cells endpoint (same view).
      const cfc = await apiJson(`/api/v1/cells?bbox=${coverBbox(fc.features, fc.plan.radius_m)}&res=${fc.plan.res}${atParam()}`);
      if (seq !== patrol.seq) return;
      cells = (cfc.features || []).filter((f) => covered.has(f.properties.cell));
    }
    patrol.plan = fc;
    patrol.viewKey = key;
    drawPatrol(fc, cells);
    $('show-patrol').checked = true;
    if (!map.hasLayer(patrolLayer)) map.addLayer(patrolLayer);
  } catch (e) {
    if (seq === patrol.seq) $('patrol-summary').textContent = `Patrol plan unavailable: ${e.message}`;
  } finally {
    if (seq === patrol.seq) $('patrol-run').disabled = false;
  }
}

function drawPatrol(fc, cells) {
  patrolLayer.clearLayers();
  const plan = fc.plan;
  if (cells.length) {
    patrolLayer.addLayer(L.geoJSON({ type: 'FeatureCollection', features: cells }, {
      pane: 'patrol', renderer: patrolRenderer, interactive: false, className: 'kinga-patrol-cell',
      style: { color: '#0d47a1', weight: 2, opacity: 0.9, fillColor: '#1e88e5', fillOpacity: 0.18 },
      onEachFeature: (f, layer) => layer.on('add', () => {
        const e = layer.getElement();
        if (e) e.dataset.cell = f.properties.cell;
      }),
    }));
  }
  for (const f of fc.features) {
    const p = f.properties;
    const [lon, lat] = f.geometry.coordinates;
    const circle = L.circle([lat, lon], {
      radius: plan.radius_m, pane: 'patrol', renderer: patrolRenderer, interactive: false,
      className: 'kinga-patrol-radius', color: '#0d47a1', weight: 1.5, dashArray: '6 4', fillColor: '#1e88e5', fillOpacity: 0.07,
    });
    const m = L.marker([lat, lon], {
      pane: 'patrolpos', keyboard: false,
      icon: L.divIcon({ className: 'kinga-patrol', html: el('span', null, `P${p.rank}`), iconSize: [26, 20] }),
    });
    const n = (p.covers || []).length;
    m.bindTooltip(el('span', null, `Patrol ${p.rank}: covers ${pct(p.share)} of the risk in view (${n} cell${n === 1 ? '' : 's'})`),
      { direction: 'top', className: 'kinga-tip' });
    patrolLayer.addLayer(circle);
    patrolLayer.addLayer(m);
    const e = m.getElement();
    if (e) {
      e.dataset.cell = p.cell;
      e.dataset.rank = String(p.rank);
    }
  }
  renderPatrolSummary();
  const ol = $('patrol-list');
  ol.replaceChildren(...fc.features.map((f) => {
    const p = f.properties;
    const li = el('li');
    li.dataset.cell = p.cell;
    const b = el('button', 'hot-item');
    b.type = 'button';
    const n = (p.covers || []).length;
    b.append(el('span', 'rank patrol-pos', `P${p.rank}`),
      el('span', 'hot-main', `covers ${pct(p.share)} of the risk · ${n} cell${n === 1 ? '' : 's'}`));
    b.addEventListener('click', () => {
      const [lon, lat] = f.geometry.coordinates;
      map.flyTo([lat, lon], Math.max(zoom(), 13), { duration: 0.8 });
    });
    li.append(b);
    return li;
  }));
}

function renderPatrolSummary() {
  const box = $('patrol-summary');
  const fc = patrol.plan;
  if (!fc) {
    box.textContent = '';
    return;
  }
  const plan = fc.plan;
  const n = fc.features.length;
  box.dataset.share = String(plan.share_covered);
  box.dataset.positions = String(n);
  const main = el('strong', null, `${n} patrol${n === 1 ? '' : 's'} cover ${pct(plan.share_covered)} of the risk in view`);
  const detail = plan.total_risk > 0
    ? `Risk covered ${num(plan.covered_risk, 2)} of ${num(plan.total_risk, 2)} · radius ${plan.radius_m} m · H3 res ${plan.res} · method: ${plan.method}.`
    : 'No risk to cover in this view.';
  const parts = [main, el('span', null, ` — ${detail}`)];
  if (n < plan.units && plan.total_risk > 0) parts.push(el('span', 'muted', ` Fewer positions than the ${plan.units} units asked: no further risk to cover.`));
  if (patrol.viewKey !== viewKey()) parts.push(el('span', 'stale', 'The view or time changed since: plan again for what is shown now.'));
  box.replaceChildren(...parts);
}

function clearPatrol() {
  patrol.seq += 1;
  patrol.plan = null;
  if (patrolLayer) patrolLayer.clearLayers();
  $('patrol-list').replaceChildren();
  $('patrol-run').disabled = false;
  renderPatrolSummary();
}

/** What a role may see beyond the map: the alert banner and the patrol planner. */
function syncRoleFeatures() {
  if (!mayReadAlerts()) clearAlerts();
  renderAlertBanner();
  $('patrol').hidden = !mayPlan();
  if (!mayPlan()) clearPatrol();
}

// ---------------------------------------------------------------- legend

let legendNote;

function renderLegendNote() {
  if (!legendNote || !state.config) return;
  legendNote.textContent = seesPoints()
    ? 'Empty: no reports'
    : `Empty: no data, or < ${state.config.suppression_k} reports (withheld)`;
}

function legendControl() {
  const Legend = L.Control.extend({
    options: { position: 'bottomright' },
    onAdd() {
      const box = el('div', 'kinga-legend leaflet-bar');
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      const details = el('details');
      details.open = window.innerWidth > 760 && window.innerHeight > 560; // small screens: folded
      details.append(el('summary', null, 'Legend'));
      const sw = (cls, text, style) => {
        const row = el('div', 'lg-row');
        const s = el('span', `sw ${cls}`);
        if (style) Object.assign(s.style, style);
        row.append(s, el('span', null, text));
        return row;
      };
      details.append(el('div', 'lg-title', 'Risk level of an area'));
      const ramp = el('div', 'lg-ramp');
      for (const lv of LEVELS) ramp.append(sw('hex', label(lv), { background: LEVEL_COLOURS[lv] }));
      details.append(ramp);
      details.append(sw('hex hot', 'Dark outline: hot spot (Gi*)', { background: LEVEL_COLOURS.high }));
      details.append(sw('hex thin', 'Hatched: < 3 reports, uncertain — not low risk'));
      const none = sw('hex none', '');
      legendNote = none.lastChild;
      details.append(none);
      details.append(el('div', 'lg-title', 'Reports'));
      details.append(sw('cluster', 'Reports in an area (count)'));
      const single = sw('dot', 'Single report (dashed: unverified)');
      single.classList.add('points-only');
      details.append(single);
      details.append(sw('pulse', 'New report, live'));
      const rank = sw('rank', 'Hotspot rank, ▲ rising');
      rank.firstChild.textContent = '1';
      details.append(rank);
      const planning = el('div', 'lg-title patrol-only', 'Patrol plan');
      const pat = sw('patrol', 'Position (P1…), its radius, covered cells');
      pat.classList.add('patrol-only');
      details.append(planning, pat);
      box.append(details);
      renderLegendNote();
      return box;
    },
  });
  return new Legend();
}

function homeControl() {
  const Home = L.Control.extend({
    options: { position: 'topleft' },
    onAdd() {
      const bar = el('div', 'leaflet-bar');
      const a = el('a', 'kinga-home', '⌂');
      a.href = '#';
      a.title = 'Whole region';
      a.setAttribute('role', 'button');
      a.setAttribute('aria-label', 'Zoom to the whole region');
      L.DomEvent.on(a, 'click', (e) => { L.DomEvent.preventDefault(e); L.DomEvent.stopPropagation(e); fitRegion(); });
      bar.append(a);
      return bar;
    },
  });
  return new Home();
}

function fitRegion() {
  map.fitBounds(state.config.bounds, { padding: [12, 12] });
}

function escapeHtml(s) {
  const d = document.createElement('div');
  d.textContent = s;
  return d.innerHTML;
}

// ---------------------------------------------------------------- start

async function main() {
  map = L.map('map', { zoomControl: true, preferCanvas: false, zoomSnap: 0.25, zoomDelta: 1, wheelPxPerZoomLevel: 90, minZoom: 5, maxZoom: 18, attributionControl: true });
  map.getContainer().dataset.pending = '0';
  map.attributionControl.setPrefix('<a href="https://leafletjs.com" title="A JavaScript library for interactive maps">Leaflet</a>');
  for (const [name, z] of [['outline', 405], ['risk', 410], ['reports', 440], ['patrol', 445], ['live', 450],
    ['patrolpos', 455], ['labels', 460]]) {
    map.createPane(name).style.zIndex = String(z);
  }
  map.getPane('outline').style.pointerEvents = 'none';
  map.getPane('patrol').style.pointerEvents = 'none';
  riskRenderer = L.svg({ pane: 'risk', padding: 0.3 });
  reportsRenderer = L.svg({ pane: 'reports', padding: 0.3 });
  riskGroup = L.layerGroup().addTo(map);
  reportGroup = L.layerGroup().addTo(map);
  liveLayer = L.layerGroup().addTo(map);
  rankLayer = L.layerGroup().addTo(map);
  patrolRenderer = L.svg({ pane: 'patrol', padding: 0.3 });
  patrolLayer = L.layerGroup().addTo(map);
  alertFocus = L.layerGroup().addTo(map);
  // The banner comes and goes above the map: keep Leaflet's idea of its size right.
  if (window.ResizeObserver) new ResizeObserver(() => map.invalidateSize({ pan: false })).observe(map.getContainer());
  riskTiles = new GeoTiles('risk', riskGroup, buildRisk, forgetRisk);
  reportTiles = new GeoTiles('reports', reportGroup, buildReports);
  L.control.scale({ imperial: false, position: 'bottomleft' }).addTo(map);
  homeControl().addTo(map);

  let config;
  try {
    config = await apiJson('/map/config.json');
  } catch (e) {
    status(`Cannot load the map configuration: ${e.message}`, 'error');
    return;
  }
  state.config = config;
  if (config.basemap_url) {
    const attribution = config.basemap_attribution
      || (/openstreetmap/i.test(config.basemap_url) ? '© OpenStreetMap contributors' : `Basemap: ${new URL(config.basemap_url.replace(/[{}]/g, ''), location.href).host}`);
    L.tileLayer(config.basemap_url, { attribution: escapeHtml(attribution), maxZoom: 19, crossOrigin: true }).addTo(map);
    map.getContainer().classList.add('with-basemap');
  }
  L.geoJSON(config.region, {
    pane: 'outline', interactive: false,
    style: { color: '#263238', weight: 2, opacity: 0.8, dashArray: '6 5', fill: false },
  }).addTo(map);
  legendControl().addTo(map);

  const cat = $('filter-category');
  for (const c of config.categories || []) {
    const o = el('option', null, label(c));
    o.value = c;
    cat.append(o);
  }

  // Controls.
  $('time-slider').addEventListener('input', (e) => {
    if (state.playing) stopPlay();
    setAt(sliderTime(Number(e.target.value)), false);
  });
  $('time-slider').addEventListener('change', (e) => setAt(sliderTime(Number(e.target.value)), true));
  $('live').addEventListener('click', () => {
    stopPlay();
    reanchor();
    state.at = null;
    syncSlider();
    refreshAll(true);
  });
  $('play').addEventListener('click', () => (state.playing ? stopPlay() : startPlay()));
  for (const b of document.querySelectorAll('#time .seg button')) {
    b.addEventListener('click', () => setSpan(Number(b.dataset.span)));
  }
  cat.addEventListener('change', () => { state.filters.category = cat.value; applyReportFilters(); });
  $('filter-verification').addEventListener('change', (e) => { state.filters.verification = e.target.value; applyReportFilters(); });
  $('show-risk').addEventListener('change', (e) => { state.show.risk = e.target.checked; refreshTiles(false); });
  $('show-reports').addEventListener('change', (e) => {
    state.show.reports = e.target.checked;
    if (state.show.reports) map.addLayer(liveLayer); else map.removeLayer(liveLayer);
    refreshTiles(false);
  });
  $('show-ranks').addEventListener('change', (e) => { state.show.ranks = e.target.checked; renderHotspots(hotspots); });
  for (const b of document.querySelectorAll('#export button')) {
    b.addEventListener('click', () => exportLayer(b.dataset.layer, b.dataset.format));
  }
  $('alert-banner').addEventListener('click', () => setAlertPanel($('alerts-panel').hidden));
  $('alerts-close').addEventListener('click', () => { setAlertPanel(false); $('alert-banner').focus(); });
  $('alerts-panel').addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') return;
    const li = e.target.closest('form') && e.target.closest('li');
    const item = li && alerts.items.get(li.dataset.id);
    if (item) closeStepForm(item, true); // Escape in a note: cancel that step only
    else { setAlertPanel(false); $('alert-banner').focus(); }
  });
  $('alerts-all').addEventListener('change', (e) => { alerts.showAll = e.target.checked; renderAlertList(); loadAlerts(); });
  $('patrol-form').addEventListener('submit', (e) => { e.preventDefault(); planPatrol(); });
  $('show-patrol').addEventListener('change', (e) => {
    if (e.target.checked) map.addLayer(patrolLayer); else map.removeLayer(patrolLayer);
  });
  setInterval(() => { if (!document.hidden && alerts.loaded) renderAlerts(); }, 30_000); // "… min ago"
  $('signin').addEventListener('submit', (e) => { e.preventDefault(); signIn($('token').value); });
  $('signout').addEventListener('click', () => signOut());

  // data-moving / data-scheduled / data-pending tell an observer (and the e2e test) when the map is settled.
  map.on('movestart zoomstart', () => { map.getContainer().dataset.moving = '1'; });
  map.on('moveend', () => {
    map.getContainer().dataset.moving = '0';
    scheduleRefresh(150, false);
  });
  map.on('click', () => selectCell(null));
  map.on('popupclose', () => selectCell(null));

  // Live mode: decay moves scores slowly; revalidate once a minute (cheap: 304s), not when hidden.
  setInterval(() => {
    if (document.hidden || state.at !== null || state.playing) return;
    if (Date.now() - lastRefresh < LIVE_REFRESH_MS - 1000) return;
    reanchor();
    syncSlider();
    refreshAll(true);
  }, 15_000);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && state.at === null && Date.now() - lastRefresh > LIVE_REFRESH_MS) refreshAll(true);
  });

  state.stepMs = stepFor(state.spanH);
  reanchor();
  syncSlider();
  showRole();
  fitRegion(); // fires moveend → first load
  connect();
}

main();
