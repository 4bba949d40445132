// Against a running server: API_TARGET=http://127.0.0.1:8000 ECLUSE_USER=admin ECLUSE_PASSWORD=… npm run e2e:live
// Creates the demo pipeline through the API, then opens, runs and previews it in the UI.
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from './serve.mjs';
import { launch } from './browser.mjs';

const target = process.env.API_TARGET;
if (!target) throw new Error('set API_TARGET');
const user = process.env.ECLUSE_USER ?? 'admin';
const password = process.env.ECLUSE_PASSWORD ?? '';
const out = resolve(fileURLToPath(new URL('../../test-artifacts', import.meta.url)));
mkdirSync(out, { recursive: true });
const demo = JSON.parse(readFileSync(new URL('../src/test/fixtures/orders_pipeline.json', import.meta.url), 'utf8'));

const login = await fetch(`${target}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: user, password }) });
const { access_token } = await login.json();
const name = `${demo.name} (live ${Date.now()})`;
const created = await fetch(`${target}/api/v1/pipelines`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${access_token}` }, body: JSON.stringify({ ...demo, name }) });
if (!created.ok) throw new Error(`create: ${created.status} ${await created.text()}`);
const { id } = await created.json();

const server = await serve(0, target);
const base = `http://127.0.0.1:${server.address().port}`;
const browser = await launch();
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
const errors = [];
page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
page.on('pageerror', (e) => errors.push(String(e)));
const shot = (n) => page.screenshot({ path: `${out}/live-${n}.png` });
try {
  await page.goto(`${base}/signin`);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Pipelines' }).waitFor();
  await page.getByRole('button', { name, exact: true }).click();
  await page.getByTestId('node-monthly').waitFor();
  await page.waitForTimeout(1500);
  await shot('01-editor');
  await page.getByTestId('node-monthly').click();
  await shot('02-config');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await page.getByRole('button', { name: 'Run now' }).click();
  for (const n of ['orders', 'clean', 'monthly', 'report']) await page.locator(`[data-testid="node-${n}"][data-status="succeeded"]`).waitFor({ timeout: 60000 });
  await shot('03-run');
  await page.getByTestId('node-monthly').click();
  await page.getByRole('button', { name: 'Preview' }).click();
  await page.getByRole('table', { name: /Preview of/ }).waitFor();
  await page.waitForTimeout(500);
  await shot('04-preview');
  if (errors.length) throw new Error(`console errors:\n${errors.join('\n')}`);
  console.log(`live: 1 passed, 0 failed (pipeline ${id})`);
} catch (e) {
  await shot('failure').catch(() => {});
  console.error(e, errors);
  console.log('live: 0 passed, 1 failed');
  process.exitCode = 1;
} finally {
  await browser.close();
  server.close();
}
