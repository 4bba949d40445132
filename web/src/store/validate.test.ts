import { describe, expect, it } from 'vitest';
import { demoPipeline, entry, realCatalog } from '../test/catalog';
import { validateConfig, validateDocument } from './validate';

describe('client-side validation', () => {
  it('finds nothing wrong with the demo pipeline', () => {
    expect(validateDocument(demoPipeline, realCatalog)).toEqual([]);
  });

  it('reports problems with JSON pointers into the document', () => {
    const doc = structuredClone(demoPipeline);
    delete doc.nodes[0].config.path;
    doc.nodes[0].config.on_error = 'explode';
    (doc.nodes[2].config.aggregations as unknown[]).push({ function: 'sum' });
    doc.edges = doc.edges.filter((e) => e.target !== 'report');
    const pointers = validateDocument(doc, realCatalog).map((p) => p.pointer);
    expect(pointers).toEqual(expect.arrayContaining(['/nodes/0/config/path', '/nodes/0/config/on_error', '/nodes/2/config/aggregations/3/name', '/nodes/3']));
  });

  it('understands anyOf with null and $ref', () => {
    const schema = entry('transformer', 'aggregate').config_schema;
    expect(validateConfig(schema, { aggregations: [{ function: 'count', name: 'n' }], time_bucket: null })).toEqual([]);
    expect(validateConfig(schema, { aggregations: [{ function: 'count', name: 'n' }], time_bucket: { unit: 'day' } })).toEqual([{ pointer: '/time_bucket/column', message: 'Required.' }]);
    expect(validateConfig(schema, { aggregations: [] })).toEqual([{ pointer: '/aggregations', message: 'Add at least 1 item.' }]);
  });
});
