// Extracts the pipeline document's JSON Schema from openapi.json (run by `npm run gen:api`):
// the editor's "Pipeline settings" form is generated from it, like node forms from module schemas.
import { readFileSync, writeFileSync } from 'node:fs';

const api = JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8'));
const all = api.components.schemas;
const SKIP = new Set(['id', 'nodes', 'edges', 'version', 'name']);
const rewrite = (x) => JSON.parse(JSON.stringify(x).replaceAll('#/components/schemas/', '#/$defs/'));
const pipeline = rewrite(all.Pipeline);
const used = new Set();
const walk = (x) => {
  if (x && typeof x === 'object') {
    if (typeof x.$ref === 'string') used.add(x.$ref.replace('#/$defs/', ''));
    Object.values(x).forEach(walk);
  }
};
pipeline.properties = Object.fromEntries(Object.entries(pipeline.properties).filter(([k]) => !SKIP.has(k)));
pipeline.required = [];
walk(pipeline);
for (const name of [...used]) walk(rewrite(all[name]));
const schema = { ...pipeline, $defs: Object.fromEntries([...used].map((n) => [n, rewrite(all[n])])) };
writeFileSync(new URL('../src/client/pipeline-settings.schema.json', import.meta.url), JSON.stringify(schema, null, 2) + '\n');
console.log(`pipeline settings schema: ${Object.keys(pipeline.properties).join(', ')}`);
