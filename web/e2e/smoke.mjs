// End-to-end in the browser against a running Ecluse server: sign in, build csv → cleaner → aggregate →
// parquet by drag and drop, configure, save, run, watch the nodes turn green, preview; screenshots go
// to ../test-artifacts/. `API_TARGET=http://127.0.0.1:8000 ECLUSE_USER=… ECLUSE_PASSWORD=… npm run e2e`
// (the server runs the pipeline: its working directory must hold examples/demo/orders.csv).
import { artifacts as out, check, openPage, target } from './session.mjs';

const settings = target();
const { user, password } = settings;
const session = await openPage(settings);
const { page, base, shot } = session;
const step = (s) => console.log(`• ${s}`);
// On a loaded machine a click can be missed (a menu still opening, a node shifting as it grows
// with its schema): repeat it until what it should do is seen.
const until = async (click, done, state = 'visible') => {
  for (let attempt = 1; ; attempt += 1) {
    await click();
    try {
      await done.waitFor({ state, timeout: 3000 });
      return;
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
};
// A single choice from a menu: the option, until the menu closes.
const choose = async (combobox, option) => {
  await combobox.click();
  await until(() => page.getByRole('option', option).click(), page.getByRole('listbox'), 'hidden');
};
// A node, until it is the selected one.
const select = (id) => until(() => page.getByTestId(`node-${id}`).click(),
  page.locator(`.react-flow__node.selected [data-testid="node-${id}"]`));

await check('smoke', session, async () => {
  step('sign in');
  await page.goto(`${base}/signin`);
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await shot('01-signin');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Pipelines' }).waitFor();
  await shot('02-pipelines');

  step('new pipeline');
  await page.getByRole('button', { name: 'New pipeline' }).click();
  await page.getByTestId('canvas').waitFor();
  await page.getByTestId('palette-extractor-csv').waitFor();
  await shot('03-empty-editor');

  step('drag four modules');
  const canvas = page.getByTestId('canvas');
  const box = await canvas.boundingBox();
  const drops = [
    ['palette-extractor-csv', 120, 180],
    ['palette-transformer-cleaner', 380, 180],
    ['palette-transformer-aggregate', 120, 400],
    ['palette-loader-parquet', 380, 400],
  ];
  for (const [id, x, y] of drops) {
    await page.getByTestId(id).dragTo(canvas, { targetPosition: { x, y } });
  }
  for (const n of ['csv', 'cleaner', 'aggregate', 'parquet']) await page.getByTestId(`node-${n}`).waitFor();

  step('connect');
  const connect = async (a, b) => {
    const s = await page.locator(`[data-testid="node-${a}"] .react-flow__handle.source`).first().boundingBox();
    const t = await page.locator(`[data-testid="node-${b}"] .react-flow__handle.target`).first().boundingBox();
    await page.mouse.move(s.x + s.width / 2, s.y + s.height / 2);
    await page.mouse.down();
    await page.mouse.move((s.x + t.x) / 2, (s.y + t.y) / 2, { steps: 5 });
    await page.mouse.move(t.x + t.width / 2, t.y + t.height / 2, { steps: 5 });
    await page.mouse.up();
  };
  await connect('csv', 'cleaner');
  await connect('cleaner', 'aggregate');
  await connect('aggregate', 'parquet');
  const edges = await page.locator('.react-flow__edge').count();
  if (edges !== 3) throw new Error(`expected 3 edges, got ${edges}`);

  step('refused connection shows a reason');
  await connect('csv', 'aggregate');
  await page.getByText(/accepts at most 1 incoming connection/).waitFor();
  await shot('04-refused-connection');

  step('auto-layout');
  await page.getByRole('button', { name: 'Auto-layout' }).click();
  await page.waitForTimeout(400);

  step('configure csv');
  await select('csv');
  await page.getByRole('textbox', { name: 'Path', exact: true }).fill('examples/demo/orders.csv');
  await page.getByRole('textbox', { name: 'Delimiter' }).fill(';');
  await choose(page.getByRole('combobox', { name: 'Decimal' }), { name: ',', exact: true });
  await choose(page.getByRole('combobox', { name: 'On Error' }), { name: 'quarantine', exact: true });
  await shot('05-config-csv');

  step('configure cleaner');
  await select('cleaner');
  await page.getByRole('checkbox', { name: 'Remove Duplicates' }).check();
  await page.getByRole('combobox', { name: 'Drop Nulls' }).click();
  await page.getByRole('option', { name: /amount/ }).click();
  await page.keyboard.press('Escape');

  step('configure aggregate');
  await select('aggregate');
  await page.getByRole('combobox', { name: 'Group By' }).click();
  await page.getByRole('option', { name: /country/ }).click();
  await page.keyboard.press('Escape');
  await page.getByRole('button', { name: 'Add aggregation' }).click();
  await choose(page.getByRole('combobox', { name: 'Function' }), { name: 'sum' });
  await page.getByRole('textbox', { name: 'Name', exact: true }).fill('total');
  await page.getByRole('combobox', { name: 'Column', exact: true }).fill('amount');
  await page.waitForTimeout(400);
  await shot('06-config-aggregate');

  step('configure parquet');
  await select('parquet');
  await page.getByRole('textbox', { name: 'Path', exact: true }).fill('examples/demo/out/monthly');
  await page.waitForTimeout(400);
  const badges = await page.getByTestId('error-badge').count();
  await shot('07-canvas-configured');
  if (badges !== 0) throw new Error(`expected no error badge after configuring, got ${badges}`);

  step('leaving with unsaved changes asks first');
  await page.getByRole('link', { name: 'Runs' }).click();
  await page.getByText('Leave without saving?').waitFor();
  await shot('07b-unsaved-warning');
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.getByTestId('node-parquet').waitFor();

  step('save and run');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await page.getByText(/^Saved “/).waitFor();
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  await page.getByRole('button', { name: 'Run now' }).click();
  for (const n of ['csv', 'cleaner', 'aggregate', 'parquet']) await page.locator(`[data-testid="node-${n}"][data-status="succeeded"]`).waitFor({ timeout: 90000 });
  await page.getByText('succeeded', { exact: true }).first().waitFor();
  await page.getByRole('log').getByText(/malformed row\(s\) quarantined/).waitFor();
  await page.keyboard.press('Escape');
  await shot('08-finished-run');
  await page.getByRole('button', { name: 'Close log' }).click();

  step('version history and diff');
  await select('cleaner');
  await page.getByRole('checkbox', { name: 'Remove Duplicates' }).uncheck();
  await page.keyboard.press('Escape');
  await page.getByRole('button', { name: 'Version history' }).click();
  await page.getByRole('button', { name: 'Compare with canvas' }).nth(0).click();
  await page.getByText(/Changes since version 2/).waitFor();
  await shot('11-diff-latest');
  await page.getByRole('button', { name: 'Done comparing' }).click();
  await page.getByRole('button', { name: 'Version history' }).click();
  await page.getByRole('button', { name: 'Compare with canvas' }).nth(1).click();
  await page.getByText(/4 nodes added/).waitFor();
  await page.getByRole('button', { name: 'Done comparing' }).click();
  await page.keyboard.press('Control+z');

  step('preview');
  await select('aggregate');
  await page.getByRole('button', { name: 'Preview' }).click();
  await page.getByRole('table', { name: /Preview of/ }).waitFor();
  await page.waitForTimeout(300);
  await shot('09-preview');

  step('runs page');
  await page.getByRole('link', { name: 'Runs' }).click();
  await page.getByRole('heading', { name: 'Runs' }).waitFor();
  await choose(page.getByRole('combobox', { name: /Pipeline/ }), { name: 'Untitled pipeline' });
  await page.getByRole('img', { name: /Duration of the last 1 runs/ }).waitFor();
  await shot('10-runs');

  step('connections: the form of the type, a write-only secret, a test');
  await page.getByRole('link', { name: 'Connections' }).click();
  await page.getByRole('button', { name: 'New connection' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Password').waitFor(); // PostgreSQL's fields first
  if ((await dialog.getByLabel('Password').getAttribute('type')) !== 'password') throw new Error('a secret is not a password field');
  await dialog.getByRole('textbox', { name: 'Name' }).fill('ecluse-api');
  await choose(dialog.getByRole('combobox', { name: 'Type' }), { name: 'HTTP API' });
  await dialog.getByRole('combobox', { name: 'Base Url' }).fill(`${process.env.API_TARGET}/api/v1/health`);
  await choose(dialog.getByRole('combobox', { name: 'Type' }).nth(1), { name: 'bearer' }); // the auth type
  await dialog.getByLabel('Token', { exact: true }).fill('e2e-secret-token');
  await dialog.getByRole('button', { name: 'Save and test' }).click();
  await dialog.getByText('Connection works.').waitFor({ timeout: 20000 });
  await shot('12-connection-tested');
  await dialog.getByRole('button', { name: 'Close' }).click();
  await dialog.waitFor({ state: 'hidden' });
  await page.getByRole('button', { name: 'Edit ecluse-api' }).click();
  await dialog.getByText(/Stored, never shown/).waitFor();
  if ((await dialog.getByLabel('Token', { exact: true }).inputValue()) !== '') throw new Error('a stored secret was shown back');
  if ((await page.content()).includes('e2e-secret-token')) throw new Error('the secret reached the page');
  await dialog.getByRole('button', { name: 'Close' }).click();
  await dialog.waitFor({ state: 'hidden' });
  await shot('13-connections');

  return `— screenshots in ${out}`;
});
