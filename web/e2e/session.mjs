// What the scripts that drive a running server share: a pipeline created through the API, and a
// signed-in 1280×800 page that records console errors.
import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from './serve.mjs';
import { launch } from './browser.mjs';

export const artifacts = resolve(fileURLToPath(new URL('../../test-artifacts', import.meta.url)));

/** Settings from the environment: API_TARGET (required), ECLUSE_USER, ECLUSE_PASSWORD. */
export function target() {
  const url = process.env.API_TARGET;
  if (!url) throw new Error('set API_TARGET to a running Ecluse server');
  return { url, user: process.env.ECLUSE_USER ?? 'admin', password: process.env.ECLUSE_PASSWORD ?? '' };
}

export async function createPipeline({ url, user, password }, document) {
  const login = await fetch(`${url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: user, password }) });
  if (!login.ok) throw new Error(`login: ${login.status} ${await login.text()}`);
  const { access_token } = await login.json();
  const created = await fetch(`${url}/api/v1/pipelines`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${access_token}` }, body: JSON.stringify(document) });
  if (!created.ok) throw new Error(`create: ${created.status} ${await created.text()}`);
  return (await created.json()).id;
}

/** The built UI served with /api forwarded to the server, a browser, and a 1280×800 page that records console errors. */
export async function openPage(settings) {
  mkdirSync(artifacts, { recursive: true });
  const server = await serve(0, settings.url);
  const base = `http://127.0.0.1:${server.address().port}`;
  const browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  const close = async () => {
    await browser.close();
    server.close();
  };
  return { page, base, errors, close, shot: (name) => page.screenshot({ path: `${artifacts}/${name}.png` }) };
}

/** `openPage`, signed in and on the pipelines list. */
export async function signedIn(settings) {
  const opened = await openPage(settings);
  const { page, base } = opened;
  await page.goto(`${base}/signin`);
  await page.getByLabel('User name').fill(settings.user);
  await page.getByLabel('Password').fill(settings.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Pipelines' }).waitFor();
  return opened;
}

/** The demo pipeline's document (the web tests' fixture). */
export const demoPipeline = () => JSON.parse(readFileSync(new URL('../src/test/fixtures/orders_pipeline.json', import.meta.url), 'utf8'));

/**
 * Runs a script's steps on an opened page: it passes when they finish with no console error
 * (what they return is printed after the verdict); on a failure, a screenshot `<name>-failure`.
 * The verdict line is what `make test` reads. Closes the browser either way.
 */
export async function check(name, { errors, shot, close }, steps) {
  try {
    const detail = await steps();
    if (errors.length) throw new Error(`console errors:\n${errors.join('\n')}`);
    console.log(`${name}: 1 passed, 0 failed${detail ? ` ${detail}` : ''}`);
  } catch (e) {
    await shot(`${name}-failure`).catch(() => {});
    console.error(e, errors);
    console.log(`${name}: 0 passed, 1 failed`);
    process.exitCode = 1;
  } finally {
    await close();
  }
}
