// A run that fails in the middle of the chain, seen in the UI: the demo pipeline with a cast that
// cannot work (email → int64). The cast only fails when the loader runs the query; the failure must
// still show on the cleaner, with the engine's cause and the rows it failed on, and the other steps
// as stopped. `API_TARGET=… ECLUSE_USER=… ECLUSE_PASSWORD=… node e2e/failure.mjs`
import { check, createPipeline, demoPipeline, signedIn, target } from './session.mjs';

const settings = target();
const demo = demoPipeline();
const clean = demo.nodes.find((n) => n.id === 'clean');
clean.config.cast = { ...clean.config.cast, email: 'int64' };
const name = `Failing cast (${Date.now()})`;
await createPipeline(settings, { ...demo, name });
const session = await signedIn(settings);
const { page, shot } = session;
await check('failure', session, async () => {
  await page.getByRole('button', { name, exact: true }).click();
  await page.getByTestId('node-clean').waitFor();
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await page.getByRole('button', { name: 'Run now' }).click();
  await page.locator('[data-testid="node-clean"][data-status="failed"]').waitFor({ timeout: 60000 });
  for (const n of ['orders', 'monthly', 'report']) await page.locator(`[data-testid="node-${n}"][data-status="cancelled"]`).waitFor({ timeout: 10000 });
  await page.getByTestId('node-clean').click();
  const failure = page.getByRole('alert').filter({ hasText: 'This step failed in the last run' });
  await failure.getByText("cannot cast column 'email' to int64").waitFor();
  await failure.getByText('Setting concerned').waitFor();
  const sample = failure.getByRole('table', { name: 'Rows the step failed on' });
  await sample.waitFor();
  const rows = await sample.locator('tbody tr').count();
  if (rows < 1) throw new Error('no sample rows in the failure panel');
  await failure.getByText('Cause').click();
  await failure.getByText(/ConversionException/).waitFor();
  await page.waitForTimeout(300);
  await shot('14-failed-node');
  return `(${rows} sample rows shown)`;
});
