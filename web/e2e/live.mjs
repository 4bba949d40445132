// Against a running server: API_TARGET=http://127.0.0.1:8000 ECLUSE_USER=admin ECLUSE_PASSWORD=… npm run e2e:live
// Creates the demo pipeline through the API, then opens, runs and previews it in the UI.
import { check, createPipeline, demoPipeline, signedIn, target } from './session.mjs';

const settings = target();
const demo = demoPipeline();
const name = `${demo.name} (live ${Date.now()})`;
const id = await createPipeline(settings, { ...demo, name });
const session = await signedIn(settings);
const { page } = session;
const shot = (n) => session.shot(`live-${n}`);
await check('live', session, async () => {
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
  return `(pipeline ${id})`;
});
