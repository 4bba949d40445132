// Against a running server: API_TARGET=http://127.0.0.1:8000 ECLUSE_USER=admin ECLUSE_PASSWORD=… npm run e2e:live
// Creates the demo pipeline through the API, then opens, runs and previews it in the UI.
import { readFileSync } from 'node:fs';
import { createPipeline, signedIn, target } from './session.mjs';

const settings = target();
const demo = JSON.parse(readFileSync(new URL('../src/test/fixtures/orders_pipeline.json', import.meta.url), 'utf8'));
const name = `${demo.name} (live ${Date.now()})`;
const id = await createPipeline(settings, { ...demo, name });
const { page, errors, close, shot: save } = await signedIn(settings);
const shot = (n) => save(`live-${n}`);
try {
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
  await close();
}
