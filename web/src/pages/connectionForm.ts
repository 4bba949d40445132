import type { JsonSchema } from '../forms/jsonSchema';

/** What the server sends back in place of a secret (and of any value it keeps hidden). */
export const MASK = '********';

/** Dotted paths of the values the server masked, e.g. `password`, `auth.token`. */
export function maskedPaths(fields: Record<string, unknown>, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(fields)) {
    if (v === MASK) out.push(prefix + k);
    else if (v && typeof v === 'object' && !Array.isArray(v)) out.push(...maskedPaths(v as Record<string, unknown>, `${prefix}${k}.`));
  }
  return out;
}

/** The fields without their masked values: a stored secret shows as an empty field, never as dots. */
export function withoutMasked(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === MASK) continue;
    out[k] = v && typeof v === 'object' && !Array.isArray(v) ? withoutMasked(v as Record<string, unknown>) : v;
  }
  return out;
}

/** The fields to send: a stored secret left empty goes back as the mask, which tells the server to keep it. */
export function keepingStored(fields: Record<string, unknown>, stored: string[]): Record<string, unknown> {
  const out = structuredClone(fields);
  for (const path of stored) {
    const keys = path.split('.');
    let target: Record<string, unknown> = out;
    for (const k of keys.slice(0, -1)) target = (target[k] ??= {}) as Record<string, unknown>;
    const leaf = keys[keys.length - 1];
    if (target[leaf] === undefined || target[leaf] === '') target[leaf] = MASK;
  }
  return out;
}

/** The type's schema, with each stored secret's field saying so (its value is never sent to the browser). */
export function noteStored(schema: JsonSchema, stored: string[]): JsonSchema {
  const out = structuredClone(schema);
  for (const path of stored) {
    let s: JsonSchema | undefined = out;
    const keys = path.split('.');
    for (const [i, k] of keys.entries()) {
      let prop: JsonSchema | undefined = s?.properties?.[k];
      const ref: string | undefined = prop?.$ref ?? prop?.anyOf?.find((o) => o.$ref)?.$ref;
      if (ref && i < keys.length - 1) prop = out.$defs?.[ref.split('/').pop()!];
      if (i === keys.length - 1 && prop) prop.description = `Stored, never shown. Leave empty to keep it; type a new value to replace it.${prop.description ? ` (${prop.description})` : ''}`;
      s = prop;
    }
  }
  return out;
}
