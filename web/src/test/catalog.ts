import type { CatalogEntry, PipelineDocument } from '../api/types';
import modules from './fixtures/modules.json';
import demo from './fixtures/orders_pipeline.json';

/** The real catalog, saved by `npm run gen:fixtures` from `ecluse modules --json`. */
export const realCatalog = modules as unknown as CatalogEntry[];
export const demoPipeline = demo as unknown as PipelineDocument;

export function entry(type: string, module: string): CatalogEntry {
  const e = realCatalog.find((m) => m.type === type && m.module === module);
  if (!e) throw new Error(`${type}/${module} not in the fixture`);
  return e;
}

/**
 * Multi-port modules are not in the catalog yet; these two reuse a real entry and only change
 * the ports, to exercise the rules for named handles (a join's left/right, a validator's out/rejected).
 */
export const joinEntry: CatalogEntry = {
  ...entry('transformer', 'aggregate'),
  module: 'join',
  title: 'Join',
  inputs: [
    { name: 'left', min: 1, max: 1, description: '' },
    { name: 'right', min: 1, max: 1, description: '' },
  ],
};
export const validatorEntry: CatalogEntry = {
  ...entry('transformer', 'cleaner'),
  module: 'validator',
  title: 'Validate',
  outputs: [{ name: 'out', description: '' }, { name: 'rejected', description: '' }],
};
export const testCatalog = [...realCatalog, joinEntry, validatorEntry];
