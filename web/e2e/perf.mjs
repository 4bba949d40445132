// Measures opening a 1,000-node pipeline and dragging a node on it, and the time from a config edit to
// the updated schema on the node downstream, in headless Chromium against a real server.
// `npm run build && npm run perf` — prints JSON; the numbers are recorded in web/PERF.md.
import { readdirSync, readFileSync } from 'node:fs';
import { serve } from './serve.mjs';
import { launch } from './browser.mjs';

const N = Number(process.env.NODES ?? 1000);
/** the cards on the canvas: React Flow nodes, and zoomed out the ones drawn in the overview SVG */
const CARDS = '.react-flow__node, .ec-overview-cards g[data-id]';
const chain = [
  ['extractor', 'csv', { path: 'in/orders.csv' }],
  ['transformer', 'cleaner', { trim: true, remove_duplicates: true }],
  ['transformer', 'aggregate', { group_by: ['country'], aggregations: [{ function: 'count', name: 'n' }] }],
  ['loader', 'parquet', { path: 'out/x' }],
];
function bigPipeline(n) {
  const nodes = [];
  const edges = [];
  for (let i = 0; i < n; i++) {
    const row = Math.floor(i / 4);
    const [type, module, config] = chain[i % 4];
    nodes.push({ id: `n${i}`, type, module, label: `${module} ${row}`, config, position: { x: (i % 4) * 260 + Math.floor(row / 50) * 1100, y: (row % 50) * 150 } });
    if (i % 4) edges.push({ source: `n${i - 1}`, target: `n${i}` });
  }
  return { name: `${n} nodes`, nodes, edges };
}

// Against a running server: API_TARGET=http://127.0.0.1:8000 ECLUSE_USER=… ECLUSE_PASSWORD=… npm run perf
const target = process.env.API_TARGET;
if (!target) throw new Error('set API_TARGET to a running Ecluse server');
const user = process.env.ECLUSE_USER ?? 'admin';
const password = process.env.ECLUSE_PASSWORD ?? '';
const login = await fetch(`${target}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: user, password }) });
if (!login.ok) throw new Error(`login: ${login.status} ${await login.text()}`);
const { access_token } = await login.json();
const created = await fetch(`${target}/api/v1/pipelines`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${access_token}` }, body: JSON.stringify({ ...bigPipeline(N), name: `${N} nodes (perf ${Date.now()})` }) });
if (!created.ok) throw new Error(`create: ${created.status} ${await created.text()}`);
const perfName = (await created.json()).name;

// For the edit → downstream schema measure: csv → select → add_constant → limit → parquet, on the demo
// orders file (the server's working folder must hold examples/demo/orders.csv, as `make run` and the e2e do).
const small = {
  name: `schema latency (perf ${Date.now()})`,
  nodes: [
    { id: 'orders', type: 'extractor', module: 'csv', label: 'Orders', config: { path: 'examples/demo/orders.csv', delimiter: ';', encoding: 'latin-1', decimal: ',', on_error: 'skip' }, position: { x: 0, y: 0 } },
    { id: 'keep', type: 'transformer', module: 'select', label: 'Keep two', config: { columns: ['country', 'amount'] }, position: { x: 260, y: 0 } },
    { id: 'tag', type: 'transformer', module: 'add_constant', label: 'Tag', config: { column: 'tag', value: 'x' }, position: { x: 520, y: 0 } },
    { id: 'first', type: 'transformer', module: 'limit', label: 'First rows', config: { n: 10 }, position: { x: 780, y: 0 } },
    { id: 'out', type: 'loader', module: 'parquet', label: 'Out', config: { path: 'examples/demo/out/perf' }, position: { x: 1040, y: 0 } },
  ],
  edges: [
    { source: 'orders', target: 'keep' },
    { source: 'keep', target: 'tag' },
    { source: 'tag', target: 'first' },
    { source: 'first', target: 'out' },
  ],
};
const smallCreated = await fetch(`${target}/api/v1/pipelines`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${access_token}` }, body: JSON.stringify(small) });
if (!smallCreated.ok) throw new Error(`create: ${smallCreated.status} ${await smallCreated.text()}`);

const server = await serve(0);
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const errors = [];
page.on('pageerror', (e) => errors.push(String(e)));
page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
const results = { nodes: N, load_average_at_start: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') };

/**
 * CPU seconds (user+system) used by this browser's process tree, from /proc: unlike wall time,
 * it barely moves when other processes compete for the 2 cores.
 */
function procTree() {
  const parent = new Map();
  const cmd = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      parent.set(d, f[1]);
      cmd.set(d, [Number(f[11]) + Number(f[12])]);
      cmd.get(d).push(readFileSync(`/proc/${d}/cmdline`, 'utf8'));
    } catch {
      /* gone */
    }
  }
  return { parent, cmd };
}
let rootPid = null;
function browserCpuMs() {
  const { parent, cmd } = procTree();
  if (!rootPid) rootPid = [...cmd].find(([, [, c]]) => c.includes('playwright_chromiumdev_profile') && !c.includes('--type='))?.[0];
  let ticks = 0;
  for (const [pid, [t]] of cmd) {
    let p = pid;
    for (let i = 0; i < 6 && p && p !== '1'; i++) {
      if (p === rootPid) {
        ticks += t;
        break;
      }
      p = parent.get(p);
    }
  }
  return ticks * 10; // USER_HZ = 100
}
const cdp = await page.context().newCDPSession(page);
await cdp.send('Performance.enable');
/** Main-thread CPU time of the renderer (s): less sensitive than wall time to other processes on a shared machine. */
async function cpu() {
  const { metrics } = await cdp.send('Performance.getMetrics');
  const m = Object.fromEntries(metrics.map((x) => [x.name, x.value]));
  return { task: m.TaskDuration, script: m.ScriptDuration, layout: m.LayoutDuration + m.RecalcStyleDuration };
}
/**
 * With TRACE=1: the renderer main thread's CPU per mouse move by kind of work (thread time of the trace's
 * top-level events of each kind), to see what a drag frame spends its time on.
 */
function mainThreadPerMove(trace, moves) {
  const events = trace.traceEvents ?? trace;
  const mains = new Set(events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
  const kinds = { RunTask: 'task', FunctionCall: 'script', UpdateLayoutTree: 'style', Layout: 'layout', PrePaint: 'prepaint', Paint: 'paint', Layerize: 'layerize', HitTest: 'hit_test', Commit: 'commit' };
  const byThread = new Map();
  for (const e of events) {
    if (e.ph !== 'X' || !mains.has(`${e.pid}:${e.tid}`) || !(e.name in kinds)) continue;
    const key = `${e.pid}:${e.tid}`;
    const m = byThread.get(key) ?? byThread.set(key, {}).get(key);
    m[kinds[e.name]] = (m[kinds[e.name]] ?? 0) + (e.tdur ?? e.dur ?? 0);
  }
  const busiest = [...byThread.values()].sort((a, b) => (b.task ?? 0) - (a.task ?? 0))[0] ?? {};
  return Object.fromEntries(Object.entries(busiest).map(([k, us]) => [`${k}_ms`, Math.round(us / moves / 100) / 10]));
}
const diff = (a, b) => ({ task_ms: Math.round((b.task - a.task) * 1000), script_ms: Math.round((b.script - a.script) * 1000), layout_style_ms: Math.round((b.layout - a.layout) * 1000) });
try {
  await page.goto(`${base}/signin`);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Pipelines' }).waitFor();

  // Edit a node's config in its form; time until the card of the node downstream lists the new column.
  await page.goto(`${base}/pipelines`);
  await page.getByRole('button', { name: small.name, exact: true }).click();
  const downstream = page.getByTestId('node-first');
  await downstream.getByText('tag', { exact: true }).waitFor({ timeout: 30000 });
  await page.getByTestId('node-tag').click();
  const field = page.getByRole('textbox', { name: 'Column', exact: true });
  await field.click();
  await page.keyboard.press('End');
  const latencies = [];
  for (let i = 1; i <= 5; i++) {
    const t0 = Date.now();
    await page.keyboard.type(String(i));
    const name = `tag${'12345'.slice(0, i)}`;
    await downstream.getByText(name, { exact: true }).waitFor({ timeout: 10000 });
    latencies.push(Date.now() - t0);
    await page.waitForTimeout(1200); // the next keystroke starts a new edit, not the same debounce window
  }
  results.edit_to_downstream_schema_ms = latencies;

  for (let round = 0; round < 3; round++) {
    await page.goto(`${base}/pipelines`);
    await page.getByRole('heading', { name: 'Pipelines' }).waitFor();
    const c0 = await cpu();
    const b0 = browserCpuMs();
    const t0 = Date.now();
    await page.getByRole('button', { name: perfName, exact: true }).click();
    await page.waitForFunction(([n, cards]) => document.querySelectorAll(cards).length >= Math.min(n, 50), [N, CARDS], { timeout: 60000 });
    // interactive: the main thread answers a frame after the nodes are in the DOM
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0))));
    const open = Date.now() - t0;
    const rendered = await page.locator(CARDS).count();
    (results.open_ms ??= []).push(open);
    (results.open_cpu ??= []).push({ ...diff(c0, await cpu()), browser_cpu_ms: browserCpuMs() - b0 });
    results.rendered_nodes = rendered;
  }
  await page.screenshot({ path: new URL('../../test-artifacts/perf-1000-nodes.png', import.meta.url).pathname });

  async function dragFrames(label) {
    // press on the middle of a card with room to move right and down (at a far zoom a card is ~15 px wide)
    const id = await page.evaluate((cards) => {
      const r = document.querySelector('.react-flow__renderer').getBoundingClientRect();
      for (const el of document.querySelectorAll(cards)) {
        const b = el.getBoundingClientRect();
        if (b.left > r.left + 40 && b.right < r.right - 300 && b.top > r.top + 40 && b.bottom < r.bottom - 200) return el.dataset.id;
      }
      return null;
    }, CARDS);
    if (!id) throw new Error(`${label}: no card on screen to drag`);
    // zoomed out, the card is drawn in the overview SVG until it is selected, then it is a React Flow node
    const node = page.locator(`.react-flow__node[data-id="${id}"], .ec-overview-cards [data-id="${id}"]`);
    const b = await node.boundingBox();
    const x0 = b.x + b.width / 2;
    const y0 = b.y + Math.min(b.height / 2, 8);
    await page.evaluate(() => {
      window.__frames = [];
      let last = performance.now();
      const loop = (t) => {
        window.__frames.push(t - last);
        last = t;
        if (window.__recording) requestAnimationFrame(loop);
      };
      window.__recording = true;
      requestAnimationFrame(loop);
    });
    await page.mouse.move(x0, y0);
    await page.mouse.down();
    if (process.env.TRACE) await browser.startTracing(page, { categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline'] });
    const b0 = browserCpuMs();
    const c0 = await cpu();
    const t0 = Date.now();
    for (let i = 1; i <= 60; i++) await page.mouse.move(x0 + i * 4, y0 + i * 2);
    await page.mouse.up();
    const total = Date.now() - t0;
    const c1 = await cpu();
    const b1 = browserCpuMs();
    if (process.env.TRACE) (results.trace ??= {})[label] = mainThreadPerMove(JSON.parse(String(await browser.stopTracing())), 60);
    const frames = await page.evaluate(() => {
      window.__recording = false;
      return window.__frames.slice(1);
    });
    frames.sort((a, b) => a - b);
    const q = (p) => Math.round(frames[Math.min(frames.length - 1, Math.floor(p * frames.length))] * 10) / 10;
    // the card really followed the mouse (a press beside it would pan the canvas instead)
    const a = await node.boundingBox();
    if (Math.abs(a.x - b.x - 240) > 12 || Math.abs(a.y - b.y - 120) > 12) throw new Error(`${label}: the node did not follow the drag (${b.x},${b.y} -> ${a.x},${a.y})`);
    const d = diff(c0, c1);
    results[label] = { moves: 60, total_ms: total, cpu_per_move_ms: Math.round((d.task_ms / 60) * 10) / 10, browser_cpu_per_move_ms: Math.round(((b1 - b0) / 60) * 10) / 10, script_per_move_ms: Math.round((d.script_ms / 60) * 10) / 10, frames: frames.length, p50_ms: q(0.5), p95_ms: q(0.95), max_ms: Math.round(frames[frames.length - 1]) };
  }
  // zoomed out: every node on screen
  await dragFrames('drag_all_visible');
  // zoomed in (1:1): off-screen nodes are culled
  await page.keyboard.press('Escape');
  await page.evaluate(() => document.querySelector('.react-flow__node')?.scrollIntoView());
  await page.locator('.react-flow__controls-zoomin').click();
  for (let i = 0; i < 5; i++) await page.locator('.react-flow__controls-zoomin').click();
  await page.waitForTimeout(300);
  results.rendered_nodes_zoomed_in = await page.locator(CARDS).count();
  await dragFrames('drag_zoomed_in');

  results.page_errors = errors;
  console.log(JSON.stringify(results, null, 2));
} finally {
  await browser.close();
  server.close();
}
