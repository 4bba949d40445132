import type { CatalogEntry, PipelineDocument, Problem } from '../api/types';
import type { JsonSchema } from '../forms/jsonSchema';
import { indexCatalog, moduleKey, targetHandleOf } from './graph';

/**
 * Client-side checks that give immediate feedback while editing (required fields, types,
 * enums, bounds, port arity). The server's `validate` stays the authority; its problems
 * use the same JSON pointers and are merged with these.
 */
export function resolveRef(root: JsonSchema, s: JsonSchema): JsonSchema {
  let cur = s;
  for (let i = 0; i < 10 && cur.$ref; i++) {
    const name = cur.$ref.replace(/^#\/\$defs\//, '');
    const target = root.$defs?.[name];
    if (!target) break;
    const { $ref: _r, ...rest } = cur;
    void _r;
    cur = { ...target, ...rest };
  }
  return cur;
}

/** `anyOf: [X, {type: null}]` → X (nullable). */
export function unwrapNullable(root: JsonSchema, s: JsonSchema): { schema: JsonSchema; nullable: boolean } {
  const r = resolveRef(root, s);
  const alts = r.anyOf ?? r.oneOf;
  if (alts) {
    const nonNull = alts.filter((a) => a.type !== 'null');
    if (nonNull.length === 1 && nonNull.length < alts.length) {
      const { anyOf: _a, oneOf: _o, ...meta } = r;
      void _a;
      void _o;
      return { schema: { ...resolveRef(root, nonNull[0]), ...meta, 'x-widget': meta['x-widget'] ?? nonNull[0]['x-widget'] }, nullable: true };
    }
  }
  return { schema: r, nullable: false };
}

const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v);

function matches(root: JsonSchema, s: JsonSchema, v: unknown): boolean {
  const out: Problem[] = [];
  check(root, s, v, '', out);
  return out.length === 0;
}

function check(root: JsonSchema, schema: JsonSchema, v: unknown, ptr: string, out: Problem[]) {
  const s = resolveRef(root, schema);
  const alts = s.anyOf ?? s.oneOf;
  if (alts) {
    if (!alts.some((a) => matches(root, a, v))) {
      const nonNull = alts.filter((a) => a.type !== 'null');
      if (nonNull.length === 1) check(root, nonNull[0], v, ptr, out);
      else out.push({ pointer: ptr, message: 'Value does not match any allowed form.' });
    }
    return;
  }
  if (v === undefined) return;
  const t = typeOf(v);
  if (s.type) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    const ok = types.some((x) => x === t || (x === 'number' && t === 'integer'));
    if (!ok) {
      out.push({ pointer: ptr, message: `Expected ${types.join(' or ')}.` });
      return;
    }
  }
  if (s.enum && !s.enum.some((e) => e === v)) out.push({ pointer: ptr, message: `Choose one of: ${s.enum.join(', ')}.` });
  if (typeof v === 'string') {
    if (s.minLength !== undefined && v.length < s.minLength) out.push({ pointer: ptr, message: s.minLength === 1 ? 'Required.' : `At least ${s.minLength} characters.` });
    if (s.maxLength !== undefined && v.length > s.maxLength) out.push({ pointer: ptr, message: `At most ${s.maxLength} characters.` });
  }
  if (typeof v === 'number') {
    if (s.minimum !== undefined && v < s.minimum) out.push({ pointer: ptr, message: `Must be ≥ ${s.minimum}.` });
    if (s.maximum !== undefined && v > s.maximum) out.push({ pointer: ptr, message: `Must be ≤ ${s.maximum}.` });
  }
  if (Array.isArray(v)) {
    if (s.minItems !== undefined && v.length < s.minItems) out.push({ pointer: ptr, message: `Add at least ${s.minItems} item${s.minItems === 1 ? '' : 's'}.` });
    if (s.items) v.forEach((item, i) => check(root, s.items!, item, `${ptr}/${i}`, out));
  }
  if (t === 'object' && typeof v === 'object' && v !== null) {
    const obj = v as Record<string, unknown>;
    for (const r of s.required ?? []) if (obj[r] === undefined || obj[r] === '') out.push({ pointer: `${ptr}/${r}`, message: 'Required.' });
    for (const [k, val] of Object.entries(obj)) {
      const p = s.properties?.[k];
      if (p) check(root, p, val, `${ptr}/${k}`, out);
      else if (typeof s.additionalProperties === 'object') check(root, s.additionalProperties, val, `${ptr}/${k}`, out);
      else if (s.additionalProperties === false && s.properties) out.push({ pointer: `${ptr}/${k}`, message: `Unknown setting “${k}”.` });
    }
  }
}

export function validateConfig(schema: JsonSchema, config: Record<string, unknown>, base = ''): Problem[] {
  const out: Problem[] = [];
  check(schema, schema, config, base, out);
  return out;
}

const configCache = new WeakMap<object, WeakMap<object, Problem[]>>();

/** Config problems relative to the config object; cached per (schema, config) so a 1,000-node check is cheap. */
function configProblems(schema: JsonSchema, config: Record<string, unknown>): Problem[] {
  let bySchema = configCache.get(schema);
  if (!bySchema) configCache.set(schema, (bySchema = new WeakMap()));
  let hit = bySchema.get(config);
  if (!hit) bySchema.set(config, (hit = validateConfig(schema, config)));
  return hit;
}

const EMPTY_CONFIG = {};

export function validateDocument(doc: PipelineDocument, entries: CatalogEntry[] | Map<string, CatalogEntry>): Problem[] {
  const catalog = entries instanceof Map ? entries : indexCatalog(entries);
  const nodes = new Map(doc.nodes.map((n) => [n.id, n]));
  const inCount = new Map<string, number>();
  for (const e of doc.edges) {
    const k = `${e.target}\u0000${targetHandleOf(e, catalog, nodes)}`;
    inCount.set(k, (inCount.get(k) ?? 0) + 1);
  }
  const out: Problem[] = [];
  doc.nodes.forEach((n, i) => {
    const entry = catalog.get(moduleKey(n));
    if (!entry) {
      out.push({ pointer: `/nodes/${i}/module`, message: `Unknown module ${n.type}/${n.module}.` });
      return;
    }
    for (const p of configProblems(entry.config_schema, n.config ?? EMPTY_CONFIG)) out.push({ pointer: `/nodes/${i}/config${p.pointer}`, message: p.message });
    for (const port of entry.inputs) {
      const count = inCount.get(`${n.id}\u0000${port.name}`) ?? 0;
      if (count < port.min) out.push({ pointer: `/nodes/${i}`, message: entry.inputs.length > 1 ? `Connect an input to “${port.name}”.` : 'Connect an input to this node.' });
    }
  });
  return out;
}
