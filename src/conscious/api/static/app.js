// The live page: status, approvals, the event stream and the inbox, from the control API
// (docs/api.md). Plain DOM, no framework; the charts are uPlot's, vendored beside this file:
// nothing comes from the network but this daemon.
// Everything shown comes from observed, untrusted text: it only ever goes into textContent.
'use strict';

const TOKEN_KEY = 'conscious.token';
const MAX_ENTRIES = 300;
const REFRESH_MS = 10_000;
const STALE_MS = 45_000; // three missed keep-alives: the connection is dead even if not closed
const MAX_BACKOFF_MS = 30_000;
const AFTER_BYE_MS = 10_000;

const state = {
  token: null,
  locked: false,
  status: null,
  lastEventId: '', // '' until the first event with an id: then ask for the kept history
  retryMs: 2000,
  bye: false,
  controller: null,
  openThoughts: new Map(), // turn -> {entry, text (a Text node), pre}
  observations: new Map(), // observation id -> its entry (a repeat replaces it)
  timers: [],
};

// ---------------------------------------------------------------- small helpers

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child)); // strings become text nodes
  }
  return node;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function clip(text, n) {
  const s = String(text ?? '');
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

function clock(ts) {
  const d = ts ? new Date(ts) : new Date();
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour12: false });
}

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

const pct = (x) => `${Math.round(x * 100)}%`;
const conf = (c) => (typeof c === 'number' ? c.toFixed(2) : '—');
const secs = (ms) => (typeof ms === 'number' ? `${(ms / 1000).toFixed(1)} s` : null);

function note(text, kind = 'info') {
  const item = el('li', { class: `note note-${kind}`, text });
  $('notes').prepend(item);
  setTimeout(() => item.remove(), 8000);
}

// ---------------------------------------------------------------- token and calls

class Unauthorised extends Error {}

function takeToken() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash);
    // Off the address bar (and out of the history): it is a key to the daemon.
    history.replaceState(null, '', location.pathname + location.search);
    return fromHash;
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function lockOut(why) {
  if (state.locked) return;
  state.locked = true;
  sessionStorage.removeItem(TOKEN_KEY);
  state.controller?.abort();
  state.timers.forEach(clearInterval);
  $('locked-why').textContent = why;
  document.body.classList.add('is-locked');
  $('locked').hidden = false;
  $('main').hidden = true;
  setConnection('locked', 'no access');
}

async function api(path, { method = 'GET', body, headers = {}, signal } = {}) {
  const init = { method, signal, cache: 'no-store', headers: { Authorization: `Bearer ${state.token}`, ...headers } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 401) {
    lockOut('The daemon did not accept this page\'s token (it changes when the token file is made anew).');
    throw new Unauthorised('401');
  }
  return res;
}

async function getJSON(path) {
  const res = await api(path);
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

async function detail(res) {
  try {
    const body = await res.json();
    return typeof body.detail === 'string' ? body.detail : JSON.stringify(body.detail ?? body);
  } catch {
    return `HTTP ${res.status}`;
  }
}

// Refreshes asked for by a burst of events (a replayed history) collapse into one call.
const pendingRefresh = new Map();
function refreshSoon(name, fn, ms = 250) {
  if (pendingRefresh.has(name)) return;
  pendingRefresh.set(name, setTimeout(() => {
    pendingRefresh.delete(name);
    fn().catch((err) => { if (!(err instanceof Unauthorised)) console.warn(err); });
  }, ms));
}

// ---------------------------------------------------------------- header

function setConnection(kind, text) {
  const node = $('connection');
  node.dataset.state = kind;
  node.textContent = text;
}

async function refreshStatus() {
  renderStatus(await getJSON('/api/status'));
}

function renderStatus(s) {
  if (!s || typeof s !== 'object') return;
  state.status = s;
  $('model').textContent = s.model || '—';
  $('model').title = s.llm_url || '';
  $('profile').textContent = s.profile || '—';
  $('server').textContent = s.server || '—';
  $('activity').textContent = s.running === false ? 'not running' : (s.activity || '—');
  // The wall around agents: said loudly when there is none (switched off, or bubblewrap missing).
  $('sandbox').textContent = s.sandbox || '—';
  $('sandbox').dataset.loud = String(/^(OFF|UNAVAILABLE)/.test(s.sandbox || ''));
  renderHealth(s.health, s.checks, s.problems);

  const used = Number(s.context_used) || 0;
  const budget = Number(s.context_budget) || 0;
  const fill = budget ? Math.min(1, used / budget) : 0;
  $('context-fill').style.width = pct(fill);
  $('context-bar').dataset.level = fill >= 0.85 ? 'high' : fill >= 0.6 ? 'mid' : 'low';
  $('context-text').textContent = budget ? `${used.toLocaleString()} / ${budget.toLocaleString()} (${pct(fill)})` : '—';
  $('pending').textContent = s.counts?.pending ?? '—';
  renderCluster(s.cluster);
  tickUptime();
}

// On several machines: every host, its roles, and the leading brain (`[cluster]`, docs/cluster.md).
function renderCluster(c) {
  $('cluster-panel').hidden = !c || !Array.isArray(c.hosts);
  if (!c || !Array.isArray(c.hosts)) return;
  $('cluster-leader').textContent = c.leader ? `· ${c.leader} leads` : '· no brain leads';
  $('cluster-hosts').replaceChildren(...c.hosts.map((h) => {
    const facts = [(h.roles || []).join(' + ')];
    if (h.lag != null) facts.push(`lag ${h.lag}`);
    if ((h.running || []).length) facts.push(`${h.running.length} task(s) running`);
    if (h.backlog) facts.push(`${h.backlog} unsent`);
    facts.push(`seen ${Math.round(h.age_s ?? 0)}s ago`);
    return el('li', { 'data-host': h.host, 'data-leads': String(h.host === c.leader) },
      el('strong', { text: h.host }), el('span', { class: 'dim', text: ` ${facts.join(' · ')}` }));
  }));
}

function renderHealth(status, checks, problems) {
  const badge = $('health');
  badge.textContent = status || '—';
  badge.dataset.health = status || '';
  const lines = Object.entries(checks || {})
    .filter(([, c]) => c && c.ok === false)
    .map(([name, c]) => `${name}: ${c.detail}`);
  for (const p of problems || []) if (!lines.includes(p)) lines.push(p);
  const list = $('problems');
  list.replaceChildren(...lines.map((line) => el('li', { text: line })));
  list.hidden = status === 'ok' || lines.length === 0;
}

function tickUptime() {
  const s = state.status;
  const started = s?.started ? new Date(s.started) : null;
  $('uptime').textContent = s?.running !== false && started && !Number.isNaN(started.getTime())
    ? duration((Date.now() - started.getTime()) / 1000)
    : '—';
  for (const node of document.querySelectorAll('[data-expires]')) node.textContent = expiry(node.dataset.expires);
}

function expiry(iso) {
  const left = (new Date(iso).getTime() - Date.now()) / 1000;
  if (Number.isNaN(left)) return '';
  return left > 0 ? `expires in ${duration(left)}` : 'expired';
}

// ---------------------------------------------------------------- approvals

async function refreshApprovals() {
  const { items } = await getJSON('/api/approvals');
  renderApprovals(items || []);
}

function renderApprovals(items) {
  const list = $('approvals');
  const wanted = new Set(items.map((a) => String(a.id)));
  for (const node of list.querySelectorAll('[data-approval]')) {
    if (!wanted.has(node.dataset.approval)) node.remove();
  }
  for (const a of items) {
    if (!list.querySelector(`[data-approval="${CSS.escape(String(a.id))}"]`)) list.append(approvalItem(a));
  }
  $('approval-count').textContent = items.length ? String(items.length) : '';
  $('no-approvals').hidden = items.length > 0;
}

function approvalItem(a) {
  const id = String(a.id);
  const reason = el('input', { type: 'text', class: 'reason', placeholder: 'reason (optional)', maxlength: 2000,
    'aria-label': `reason for denying #${id}` });
  const approve = el('button', { type: 'button', class: 'approve', 'data-approve': id, text: 'Approve' });
  const deny = el('button', { type: 'button', class: 'deny', 'data-deny': id, text: 'Deny' });
  const item = el('li', { class: 'approval', 'data-approval': id },
    el('div', { class: 'approval-head' },
      el('span', { class: 'ref', text: `#${id}` }),
      el('span', { class: 'agent', text: a.agent }),
      el('span', { class: `prio prio-${a.priority}`, text: a.priority }),
      el('span', { class: 'dim', text: `conf ${conf(a.confidence)}` }),
      el('span', { class: 'dim expiry', 'data-expires': a.expires, title: `expires ${a.expires}`, text: expiry(a.expires) })),
    el('pre', { class: 'command', text: a.command }),
    a.reasoning ? el('p', { class: 'reasoning', text: a.reasoning }) : null,
    el('div', { class: 'actions' }, approve, reason, deny));
  approve.addEventListener('click', () => answer(item, id, 'approve', {}));
  deny.addEventListener('click', () => answer(item, id, 'deny', reason.value.trim() ? { reason: reason.value.trim() } : {}));
  reason.addEventListener('keydown', (e) => { if (e.key === 'Enter') deny.click(); });
  return item;
}

async function answer(item, id, verb, body) {
  const buttons = item.querySelectorAll('button, input');
  buttons.forEach((b) => { b.disabled = true; });
  try {
    const res = await api(`/api/approvals/${encodeURIComponent(id)}/${verb}`, { method: 'POST', body });
    if (res.ok) {
      const done = await res.json();
      const r = done.request || {};
      const also = (done.also || []).map((o) => `#${o.id}`);
      note(`${done.answer === 'approved' ? 'Approved' : 'Denied'} #${id}: ${r.agent ?? ''} — ${clip(r.command, 80)}`
        + (also.length ? ` (and ${also.join(', ')})` : ''), done.answer === 'approved' ? 'ok' : 'warn');
    } else if (res.status === 404 || res.status === 409) {
      note(`#${id}: ${await detail(res)}`, 'warn');
    } else {
      note(`Could not answer #${id}: ${await detail(res)}`, 'error');
      buttons.forEach((b) => { b.disabled = false; });
      return;
    }
  } catch (err) {
    if (err instanceof Unauthorised) return;
    note(`Could not answer #${id}: ${err.message}`, 'error');
    buttons.forEach((b) => { b.disabled = false; });
    return;
  }
  await refreshApprovals().catch(() => {});
  refreshSoon('status', refreshStatus);
}

// ---------------------------------------------------------------- worktrees

async function refreshWorktrees() {
  const { items } = await getJSON('/api/worktrees');
  const ready = (items || []).filter((w) => w.state === 'ready' && !['running', 'pending', 'approved'].includes(w.task_state));
  const list = $('worktrees');
  const wanted = new Set(ready.map((w) => String(w.task_id)));
  for (const node of list.querySelectorAll('[data-worktree]')) {
    if (!wanted.has(node.dataset.worktree)) node.remove();
  }
  for (const w of ready) {
    if (!list.querySelector(`[data-worktree="${CSS.escape(String(w.task_id))}"]`)) list.append(worktreeItem(w));
  }
  $('worktree-count').textContent = ready.length ? String(ready.length) : '';
  $('no-worktrees').hidden = ready.length > 0;
}

function worktreeItem(w) {
  const id = String(w.task_id);
  const diff = el('pre', { class: 'diff', hidden: true });
  const show = el('button', { type: 'button', class: 'show-diff', 'data-diff': id, text: 'Diff' });
  const merge = el('button', { type: 'button', class: 'approve', 'data-merge': id, text: 'Merge' });
  const discard = el('button', { type: 'button', class: 'deny', 'data-discard': id, text: 'Discard' });
  const item = el('li', { class: 'worktree', 'data-worktree': id },
    el('div', { class: 'approval-head' },
      el('span', { class: 'ref', text: `task #${id}` }),
      el('span', { class: 'agent', text: w.agent }),
      el('span', { class: 'dim', text: `${w.branch} · ${w.task_state}` })),
    el('pre', { class: 'command', text: w.command }),
    el('div', { class: 'actions' }, show, merge, discard),
    diff);
  show.addEventListener('click', async () => {
    if (!diff.hidden) { diff.hidden = true; return; }
    try {
      const res = await api(`/api/tasks/${encodeURIComponent(id)}/diff`);
      diff.textContent = res.ok ? ((await res.json()).diff || 'no changes') : await detail(res);
      diff.hidden = false;
    } catch (err) {
      if (!(err instanceof Unauthorised)) note(`Could not read the diff of task #${id}: ${err.message}`, 'error');
    }
  });
  merge.addEventListener('click', () => onBranch(item, id, 'merge'));
  discard.addEventListener('click', () => onBranch(item, id, 'discard'));
  return item;
}

async function onBranch(item, id, verb) {
  const buttons = item.querySelectorAll('button');
  buttons.forEach((b) => { b.disabled = true; });
  try {
    const res = await api(`/api/tasks/${encodeURIComponent(id)}/${verb}`, { method: 'POST' });
    if (res.ok) {
      const done = await res.json();
      note(verb === 'merge' ? `Task #${id} merged: ${done.merged}` : `Task #${id} discarded`, 'ok');
    } else {
      note(`Task #${id}: ${await detail(res)}`, 'warn'); // a conflict: nothing was touched
      buttons.forEach((b) => { b.disabled = false; });
      return;
    }
  } catch (err) {
    if (!(err instanceof Unauthorised)) note(`Could not ${verb} task #${id}: ${err.message}`, 'error');
    buttons.forEach((b) => { b.disabled = false; });
    return;
  }
  await refreshWorktrees().catch(() => {});
}

// ---------------------------------------------------------------- charts (uPlot, vendored in static/)

const CHART_HEIGHT = 130;
const charts = new Map(); // element id -> its uPlot
const span = { t0: 0, t1: 1 }; // the time axis, in seconds, shared by every chart

const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const hhmm = (d) => d.toLocaleTimeString([], { hourCycle: 'h23', hour: '2-digit', minute: '2-digit' });
// Three significant digits: a hovered value is read, not compared to a tick.
const exact = (v) => String(Number(v.toPrecision(3)));
// A tick shows as many decimals as the step between ticks has (0.25 needs two), and no more.
function decimals(step) {
  let d = 0;
  const off = (x) => Math.abs(Math.round(x) - x) > 1e-6 * x;
  while (d < 10 && off(step * 10 ** d)) d += 1;
  return d;
}
const tick = (v, step) => (v === 0 ? '0' : v.toFixed(decimals(step)));
const tokens = (v) => (v >= 1000 ? `${exact(v / 1000)}k` : String(Math.round(v)));
const dollars = (v) => (v === 0 ? '$0' : `$${v >= 1 ? v.toFixed(2) : exact(v)}`);

// Midnight is named by its date, so a 24-hour axis says which day it crosses into.
const timeTicks = (u, ticks) => ticks.map((t) => {
  const d = new Date(t * 1000);
  return d.getHours() || d.getMinutes() ? hhmm(d) : d.toLocaleDateString([], { month: 'short', day: 'numeric' });
});

// A round top just above the largest value, the axis from 0: $0.0002 is drawn as small as it is.
function niceTop(max, empty) {
  if (!(max > 0)) return empty;
  const step = 10 ** Math.floor(Math.log10(max));
  return [1, 2, 2.5, 5, 10].map((m) => m * step).find((top) => top >= max * 1.05) ?? 10 * step;
}

const CHARTS = {
  'chart-latency': {
    empty: 1,
    ticks: (ticks, step) => ticks.map((v) => `${tick(v, step)} s`),
    series: [{ label: 'latency', color: '--accent', show: (v) => `${exact(v)} s` }],
  },
  'chart-tokens': {
    empty: 1000,
    ticks: (ticks) => ticks.map(tokens),
    series: [
      { label: 'processed', color: '--warn', show: (v) => v.toLocaleString() },
      { label: 'from cache', color: '--ok', show: (v) => v.toLocaleString() },
    ],
  },
  'chart-spend': {
    empty: 0.01,
    ticks: (ticks, step) => ticks.map((v) => `$${tick(v, step)}`),
    series: [{ label: 'spent', color: '--error', show: dollars, total: true }],
  },
};

// Over a chart its legend tells the point under the cursor; away from it, the newest point.
const legendValue = (format) => (u, v, i, idx) => {
  const value = idx == null ? u.data[i].at(-1) : v;
  return value == null ? '—' : format(value);
};

function makeChart(id) {
  const spec = CHARTS[id];
  const box = $(id);
  const axis = {
    stroke: cssVar('--dim'),
    font: `11px ${getComputedStyle(document.body).fontFamily}`,
    grid: { stroke: cssVar('--line'), width: 1 },
    ticks: { stroke: cssVar('--line'), width: 1, size: 4 },
  };
  // The labels drawn on the canvas, also kept on the element: what tests and tools can read.
  const labelled = (key, format) => (u, ticks, ...rest) => {
    const labels = format(u, ticks, ...rest);
    box.dataset[key] = labels.join(' | ');
    return labels;
  };
  const u = new uPlot({
    width: Math.max(120, box.clientWidth),
    height: CHART_HEIGHT,
    padding: [10, 12, 0, 0],
    cursor: { drag: { x: false, y: false }, points: { size: 9 } },
    scales: {
      x: { time: true, range: () => [span.t0, span.t1] },
      y: { range: (_, min, max) => [0, niceTop(max, spec.empty)] },
    },
    axes: [
      { ...axis, space: 64, size: 26, values: labelled('xTicks', timeTicks) },
      // Wide enough for its labels, and at least as wide as usual: the charts' time axes line up.
      { ...axis, space: 28, size: (_, labels) => Math.max(56, 14 + 6.5 * Math.max(0, ...(labels || []).map((l) => l.length))),
        values: labelled('yTicks', (_, ticks, __, ___, step) => spec.ticks(ticks, step)) },
    ],
    series: [
      { label: 'time', value: legendValue((t) => clock(t * 1000)) },
      ...spec.series.map((s) => ({
        label: s.label,
        stroke: cssVar(s.color),
        width: 1.5,
        spanGaps: true,
        // A running total steps up at each point; its first point is the 0 it starts from, unmarked.
        paths: s.total ? uPlot.paths.stepped({ align: 1 }) : undefined,
        points: {
          // Every point marked while they are few (uPlot's own rule hides them when they bunch up).
          show: (self, i) => self.data[i].length <= 120,
          filter: s.total ? (self, i, show) => (show ? [...self.data[i].keys()].slice(1) : null) : null,
          size: 5,
          fill: cssVar(s.color),
        },
        value: legendValue(s.show),
      })),
    ],
  }, [[], ...spec.series.map(() => [])], box);
  new ResizeObserver(() => {
    if (box.clientWidth && box.clientWidth !== u.width) u.setSize({ width: box.clientWidth, height: CHART_HEIGHT });
  }).observe(box);
  return u;
}

function plot(id, points, xs, ...ys) {
  if (!charts.has(id)) charts.set(id, makeChart(id));
  charts.get(id).setData([xs, ...ys]);
  $(id).dataset.points = String(points);
  $(id).dataset.series = String(ys.filter((y) => y.some((v) => v != null)).length);
}

async function refreshCharts() {
  const data = await getJSON('/api/charts?hours=24');
  const at = (r) => new Date(r.ts).getTime() / 1000;
  const byTime = (a, b) => at(a) - at(b);
  const ds = (data.decisions || []).filter((d) => d.latency_ms != null || d.prompt_tokens != null).sort(byTime);
  const tasks = [...(data.tasks || [])].sort(byTime);
  // From the first thing drawn (at most the last 24 hours, at least the last 10 minutes) to now.
  span.t1 = Date.now() / 1000;
  const first = Math.min(span.t1 - 600, ...[...ds, ...tasks].map(at));
  span.t0 = Math.max(new Date(data.since).getTime() / 1000, first - 60);

  plot('chart-latency', ds.length, ds.map(at), ds.map((d) => (d.latency_ms == null ? null : d.latency_ms / 1000)));
  plot('chart-tokens', ds.length, ds.map(at), ds.map((d) => d.prompt_tokens), ds.map((d) => d.cached_tokens));
  // Spend as a running total, from nothing at the left edge.
  let spent = 0;
  const totals = tasks.map((t) => (spent += t.cost_usd || 0));
  const from = tasks.length ? [span.t0] : [];
  plot('chart-spend', tasks.length, [...from, ...tasks.map(at)], [...from.map(() => 0), ...totals]);
  $('spend-summary').textContent = `${tasks.length} delegation${tasks.length === 1 ? '' : 's'}, ${dollars(spent)} in all`;
}

// ---------------------------------------------------------------- tell

function setUpTell() {
  const form = $('tell');
  const text = form.elements.text;
  const send = form.querySelector('button');
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const value = text.value.trim();
    if (!value) return;
    send.disabled = true;
    try {
      const res = await api('/api/inbox', { method: 'POST', body: { text: value } });
      if (res.ok) {
        const { id } = await res.json();
        note(`Told (observation #${id}).`, 'ok');
        text.value = '';
      } else {
        note(`Not sent: ${await detail(res)}`, 'error');
      }
    } catch (err) {
      if (!(err instanceof Unauthorised)) note(`Not sent: ${err.message}`, 'error');
    } finally {
      send.disabled = false;
    }
  });
}

// ---------------------------------------------------------------- the stream's entries

function addEntry(kind, ts, glyph, body, attrs = {}) {
  const entry = el('li', { class: `entry kind-${kind}`, 'data-kind': kind, ...attrs },
    el('time', { datetime: ts || '', text: clock(ts) }),
    el('span', { class: 'glyph', 'aria-hidden': 'true', text: glyph }),
    el('div', { class: 'body' }, ...body));
  const stream = $('stream');
  stream.prepend(entry);
  while (stream.childElementCount > MAX_ENTRIES) stream.lastElementChild.remove();
  return entry;
}

const line = (...parts) => el('div', { class: 'line' }, ...parts);
const dim = (text) => el('span', { class: 'dim', text });
const strong = (text) => el('strong', { text });

function observationDetail(details) {
  if (!details || typeof details !== 'object') return null;
  for (const key of ['text', 'reason', 'result', 'error', 'detail', 'command']) {
    if (typeof details[key] === 'string' && details[key]) return details[key];
  }
  return null;
}

function openThought(turn, ts, covers) {
  closeThought(); // one thinker: a new thought means any earlier one is over
  const text = document.createTextNode('');
  const pre = el('pre', { class: 'thought-text', 'data-thought': turn, 'data-tokens': 0 }, text);
  const head = line(strong(`thinking, turn ${turn}`),
    covers !== undefined ? dim(` · ${covers} observation${covers === 1 ? '' : 's'}`) : null);
  const entry = addEntry('thought', ts, '…', [head, pre], { 'data-turn': turn, class: 'entry kind-thought open' });
  state.openThoughts.set(String(turn), { entry, text, pre });
  return state.openThoughts.get(String(turn));
}

function closeThought(turn) {
  const keys = turn === undefined ? [...state.openThoughts.keys()] : [String(turn)];
  for (const key of keys) {
    const t = state.openThoughts.get(key);
    if (!t) continue;
    state.openThoughts.delete(key);
    t.entry.classList.remove('open');
    if (!t.pre.textContent) t.entry.querySelector('.line').append(dim(' · streamed before this page was listening'));
  }
}

const SEVERITY_GLYPH = { debug: '◇', info: '◇', warning: '◇', error: '◆', critical: '◆' };

const render = {
  observation(d) {
    // The same observation again (seen again, its count grown): one entry, the newest, at the top.
    const key = d.id === undefined || d.id === null ? null : String(d.id);
    if (key !== null) state.observations.get(key)?.remove();
    const detailText = observationDetail(d.details);
    const entry = addEntry('observation', d.ts || d.timestamp, SEVERITY_GLYPH[d.severity] || '◇', [
      line(strong(`${d.source}/${d.event_type}`), ' ', el('span', { class: 'target', text: d.target || '' }),
        d.count > 1 ? dim(` ×${d.count}`) : null, dim(` · ${d.severity}`)),
      detailText ? el('div', { class: 'detail', text: clip(detailText, 400) }) : null,
    ], { 'data-severity': d.severity, 'data-observation': key });
    if (key !== null) {
      state.observations.set(key, entry);
      if (state.observations.size > MAX_ENTRIES * 2) {
        for (const [k, e] of state.observations) if (!e.isConnected) state.observations.delete(k);
      }
    }
  },

  thought(d) {
    openThought(d.turn, d.ts, Array.isArray(d.observations) ? d.observations.length : undefined);
  },

  token(d) {
    const t = state.openThoughts.get(String(d.turn)) || openThought(d.turn, d.ts);
    t.text.appendData(String(d.text ?? ''));
    t.pre.dataset.tokens = String(Number(t.pre.dataset.tokens) + 1);
  },

  decision(d) {
    const delegates = d.action === 'delegate';
    const head = line(strong(`#${d.id} ${d.action}`));
    if (d.target_agent && (delegates || d.action_type === 'delegate')) {
      head.append(` → ${d.target_agent}: `, el('span', { class: 'command', text: clip(d.command, 300) }));
    }
    if (d.action !== d.action_type) head.append(dim(` (proposed ${d.action_type})`));
    const facts = [
      d.verdict && d.verdict !== 'accepted' ? el('span', { class: `verdict verdict-${d.verdict}`, text: d.verdict }) : null,
      d.verdict_reason && d.verdict !== 'accepted' ? dim(clip(d.verdict_reason, 200)) : null,
      dim(`conf ${conf(d.confidence)}`),
      secs(d.latency_ms) ? dim(secs(d.latency_ms)) : null,
      d.origin && d.origin !== 'llm' ? dim(d.origin) : null,
      d.covers ? dim(`${d.covers} obs`) : null,
    ].filter(Boolean);
    const meta = line();
    facts.forEach((f, i) => { if (i) meta.append(dim(' · ')); meta.append(f); });
    addEntry('decision', d.ts, '◆', [head, meta, d.reasoning ? el('div', { class: 'reasoning', text: clip(d.reasoning, 600) }) : null],
      { 'data-action': d.action, 'data-verdict': d.verdict, 'data-origin': d.origin });
    // A decision ends the thought that produced it (the loop has one thinker; a rule decides without one).
    if (d.turn !== undefined) closeThought(d.turn);
    else if (d.origin !== 'rule') closeThought();
  },

  task(d) {
    const glyph = { started: '▶', resumed: '▶', stalled: '▲', finished: '■' }[d.what] || '▶';
    const head = line(strong(`task #${d.id} ${d.agent} ${d.what === 'finished' ? d.state : d.what}`));
    if (d.what !== 'finished') head.append(': ', el('span', { class: 'command', text: clip(d.command, 200) }));
    if (typeof d.cost_usd === 'number') head.append(dim(` · $${d.cost_usd.toFixed(4)}`));
    addEntry('task', d.ts, glyph, [head, d.result ? el('div', { class: 'detail', text: clip(d.result, 500) }) : null],
      { 'data-what': d.what, 'data-state': d.state });
  },

  tool(d) {
    if (d.allowed) return; // counted in the metrics; the stream shows what was refused
    addEntry('tool', d.ts, '✗', [line(strong(`task #${d.id} ${d.agent} refused: `),
      el('span', { class: 'command', text: clip(d.call, 200) })), line(dim(d.reason ?? ''))], { 'data-allowed': 'false' });
  },

  worktree(d) {
    addEntry('worktree', d.ts, '⎇', [line(strong(`task #${d.task_id} ${d.what}`), d.how ? dim(` (${d.how})`) : null)]);
    refreshSoon('worktrees', refreshWorktrees);
  },

  approval(d) {
    const head = line(strong(`approval #${d.id} ${d.what}`));
    if (d.agent) head.append(`: ${d.agent} — `, el('span', { class: 'command', text: clip(d.command, 200) }));
    addEntry('approval', d.ts, d.what === 'requested' ? '?' : '✓', [head], { 'data-what': d.what });
    refreshSoon('approvals', refreshApprovals);
  },

  health(d) {
    const bad = Object.entries(d.checks || {}).filter(([, c]) => c && c.ok === false)
      .map(([name, c]) => `${name}: ${c.detail}`);
    addEntry('health', d.ts, d.status === 'ok' ? '●' : '▲',
      [line(strong(`health ${d.status}`), bad.length ? dim(` — ${bad.join('; ')}`) : null)], { 'data-health': d.status });
    renderHealth(d.status, d.checks, d.status === 'ok' ? [] : state.status?.problems);
  },

  info(d) { addEntry('info', d.ts, '·', [line(d.text ?? '')]); },
  warn(d) { addEntry('warn', d.ts, '▲', [line(d.text ?? '')]); },

  dropped(d) {
    addEntry('dropped', d.ts, '…', [line(`${d.count} events dropped: this page fell behind`)]);
    closeThought();
  },

  hello(d) {
    state.bye = false;
    renderStatus(d.status);
    refreshSoon('approvals', refreshApprovals, 0);
    addEntry('hello', d.status?.updated, '●', [line(dim(`connected to the daemon (pid ${d.status?.pid ?? '?'})`))]);
  },

  bye(d) {
    state.bye = true;
    state.lastEventId = ''; // a new daemon numbers its events afresh: ask it for its history
    closeThought();
    addEntry('bye', d.ts, '■', [line(strong('the daemon is stopping'))]);
    if (state.status) renderStatus({ ...state.status, running: false }); // uptime stops; hello restarts it
    setConnection('stopped', 'daemon stopped');
  },
};

function handle(type, data) {
  const fn = render[type];
  if (!fn) return;
  fn(data);
  if (type === 'decision' || type === 'health') refreshSoon('status', refreshStatus);
  if (type === 'decision') refreshSoon('approvals', refreshApprovals);
  if (type === 'task' && data.what === 'finished') refreshSoon('worktrees', refreshWorktrees);
  if (type === 'decision' || (type === 'task' && data.what === 'finished')) refreshSoon('charts', refreshCharts, 1000);
}

// ---------------------------------------------------------------- server-sent events over fetch

// EventSource cannot send the Authorization header, so the stream is read by hand:
// lines end with CRLF, LF or CR; a blank line ends a frame; ':' starts a comment.
async function readEvents(res, onEvent, onActivity) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let data = [];
  let type = '';
  const eol = /\r\n|\r|\n/;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onActivity();
    buffer += decoder.decode(value, { stream: true });
    for (;;) {
      const m = eol.exec(buffer);
      if (!m || (m[0] === '\r' && m.index === buffer.length - 1)) break; // maybe half of a CRLF
      const text = buffer.slice(0, m.index);
      buffer = buffer.slice(m.index + m[0].length);
      if (text === '') {
        if (data.length) onEvent(type || 'message', data.join('\n'));
        data = [];
        type = '';
        continue;
      }
      if (text.startsWith(':')) continue;
      const colon = text.indexOf(':');
      const field = colon < 0 ? text : text.slice(0, colon);
      let val = colon < 0 ? '' : text.slice(colon + 1);
      if (val.startsWith(' ')) val = val.slice(1);
      if (field === 'data') data.push(val);
      else if (field === 'event') type = val;
      else if (field === 'id' && !val.includes('\0')) state.lastEventId = val;
      else if (field === 'retry' && /^\d+$/.test(val)) state.retryMs = Number(val);
    }
  }
}

async function follow() {
  let failures = 0;
  while (!state.locked) {
    const controller = new AbortController();
    state.controller = controller;
    let heard = Date.now();
    let connected = false;
    const watchdog = setInterval(() => { if (Date.now() - heard > STALE_MS) controller.abort(); }, 5000);
    try {
      const headers = { Accept: 'text/event-stream' };
      // First connection: the kept recent events too; later ones: what was missed.
      let path = '/api/events?after=0';
      if (state.lastEventId) {
        headers['Last-Event-ID'] = state.lastEventId;
        path = '/api/events';
      }
      const res = await api(path, { headers, signal: controller.signal });
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      setConnection('live', 'live');
      await readEvents(res, (type, raw) => {
        let data;
        try { data = JSON.parse(raw); } catch { return; }
        if (type === 'hello') { connected = true; failures = 0; }
        try { handle(type, data); } catch (err) { console.error('cannot show', type, err); }
      }, () => { heard = Date.now(); });
    } catch (err) {
      if (err instanceof Unauthorised) return;
    } finally {
      clearInterval(watchdog);
    }
    if (state.locked) return;
    closeThought();
    failures = connected ? 1 : failures + 1;
    const wait = state.bye
      ? AFTER_BYE_MS
      : Math.min(MAX_BACKOFF_MS, state.retryMs * 2 ** (failures - 1)) * (0.8 + Math.random() * 0.4);
    const until = Date.now() + wait;
    const countdown = setInterval(() => {
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      setConnection(state.bye ? 'stopped' : 'retrying',
        state.bye ? `daemon stopped · retrying in ${left} s` : `disconnected · retrying in ${left} s`);
    }, 250);
    await sleep(wait);
    clearInterval(countdown);
    setConnection(state.bye ? 'stopped' : 'connecting', state.bye ? 'daemon stopped · retrying' : 'connecting…');
  }
}

// ---------------------------------------------------------------- start

function start() {
  state.token = takeToken();
  if (!state.token) {
    lockOut('No access token was given.');
    return;
  }
  setUpTell();
  $('show-routine').addEventListener('change', (e) => {
    $('stream').classList.toggle('hide-routine', !e.target.checked);
  });
  const quietly = (fn) => () => fn().catch((err) => { if (!(err instanceof Unauthorised)) console.warn(err); });
  quietly(refreshStatus)();
  quietly(refreshApprovals)();
  quietly(refreshWorktrees)();
  quietly(refreshCharts)();
  state.timers.push(setInterval(quietly(refreshCharts), 60_000));
  state.timers.push(setInterval(quietly(refreshWorktrees), REFRESH_MS));
  state.timers.push(setInterval(quietly(refreshStatus), REFRESH_MS));
  state.timers.push(setInterval(quietly(refreshApprovals), REFRESH_MS));
  state.timers.push(setInterval(tickUptime, 1000));
  follow();
}

start();
