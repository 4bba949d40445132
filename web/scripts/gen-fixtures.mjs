// Saves the real module catalog as a test fixture: `npm run gen:fixtures`.
// Uses the repository's venv (`make setup`), so the fixture always matches the Python modules.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const bin = process.env.ECLUSE_BIN ?? resolve(root, '.venv', 'bin', 'ecluse');
const out = execFileSync(bin, ['modules', '--json'], { cwd: root, encoding: 'utf8' });
const catalog = JSON.parse(out);
const target = resolve(here, '..', 'src', 'test', 'fixtures', 'modules.json');
writeFileSync(target, JSON.stringify(catalog, null, 2) + '\n');
console.log(`wrote ${catalog.length} modules to ${target}`);

// The connection types and their forms, as GET /api/v1/connections/types serves them.
const python = resolve(root, '.venv', 'bin', 'python');
const types = JSON.parse(execFileSync(python, ['-c', 'import json; from ecluse.sdk.connection_types import connection_type_schemas as t; print(json.dumps(t()))'], { cwd: root, encoding: 'utf8' }));
writeFileSync(resolve(here, '..', 'src', 'test', 'fixtures', 'connection-types.json'), JSON.stringify(types, null, 2) + '\n');
console.log(`wrote ${types.length} connection types`);
