/**
 * A small JSON Schema → MUI form renderer for the config schemas pydantic emits.
 *
 * Why not @rjsf/mui: our schemas use a narrow, predictable subset (pydantic's $defs/$ref,
 * `anyOf [X, null]`, maps as additionalProperties) plus our own x-widget hints that all need
 * custom widgets anyway (column pickers fed by the upstream schema, connection picker,
 * CodeMirror). rjsf renders `anyOf` with null as an extra "Option 1/2" dropdown, reports
 * errors by its own paths rather than our JSON pointers, and adds ~300 kB; this renderer is
 * ~400 lines, maps problems by pointer directly and has no per-module code.
 */
import { memo, useId, useMemo, type ReactNode } from 'react';
import Autocomplete from '@mui/material/Autocomplete';
import Box from '@mui/material/Box';
import Button from '@mui/material/Button';
import Chip from '@mui/material/Chip';
import FormControlLabel from '@mui/material/FormControlLabel';
import FormHelperText from '@mui/material/FormHelperText';
import IconButton from '@mui/material/IconButton';
import MenuItem from '@mui/material/MenuItem';
import Paper from '@mui/material/Paper';
import Stack from '@mui/material/Stack';
import Switch from '@mui/material/Switch';
import TextField from '@mui/material/TextField';
import Tooltip from '@mui/material/Tooltip';
import Typography from '@mui/material/Typography';
import AddIcon from '@mui/icons-material/Add';
import DeleteOutlineIcon from '@mui/icons-material/DeleteOutline';
import type { Column } from '../api/types';
import type { JsonSchema } from './jsonSchema';
import { resolveRef, unwrapNullable } from '../store/validate';
import { CodeField } from './CodeField';

export interface FormContext {
  root: JsonSchema;
  /** problems keyed by pointer relative to the config object, e.g. `/aggregations/0/name` */
  problems: Map<string, string>;
  /** output columns of the upstream node, for column pickers */
  columns: Column[];
  connections: { id: string; name: string; type: string }[];
  onManageConnections?: () => void;
}

export interface SchemaFormProps {
  schema: JsonSchema;
  value: Record<string, unknown>;
  onChange(next: Record<string, unknown>): void;
  problems?: Map<string, string>;
  columns?: Column[];
  connections?: FormContext['connections'];
  onManageConnections?: () => void;
}

export function humanize(key: string): string {
  const s = key.replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export const SchemaForm = memo(function SchemaForm(props: SchemaFormProps) {
  const { schema, value, onChange } = props;
  const ctx = useMemo<FormContext>(
    () => ({ root: schema, problems: props.problems ?? new Map(), columns: props.columns ?? [], connections: props.connections ?? [], onManageConnections: props.onManageConnections }),
    [schema, props.problems, props.columns, props.connections, props.onManageConnections],
  );
  return <ObjectFields ctx={ctx} schema={resolveRef(schema, schema)} value={value} onChange={onChange} path="" />;
});

function setKey(obj: Record<string, unknown>, key: string, v: unknown): Record<string, unknown> {
  const next = { ...obj };
  if (v === undefined) delete next[key];
  else next[key] = v;
  return next;
}

function ObjectFields({ ctx, schema, value, onChange, path }: { ctx: FormContext; schema: JsonSchema; value: Record<string, unknown>; onChange(v: Record<string, unknown>): void; path: string }) {
  const required = new Set(schema.required ?? []);
  // the module author's order (required fields are marked with an asterisk)
  const entries = Object.entries(schema.properties ?? {}).filter(([, prop]) => shownFor(prop, schema, value));
  return (
    <Stack spacing={2}>
      {entries.map(([key, prop]) => (
        <Field key={key} ctx={ctx} name={key} schema={prop} required={required.has(key)} value={value[key]} path={`${path}/${key}`} onChange={(v) => onChange(setKey(value, key, v))} />
      ))}
    </Stack>
  );
}

/** `x-show-when: {sibling: [values]}`: a field that means something only for some values of a
 * sibling (an HTTP authentication's token, only when its type is bearer). */
function shownFor(prop: JsonSchema, parent: JsonSchema, value: Record<string, unknown>): boolean {
  const when = prop['x-show-when'];
  if (!when) return true;
  return Object.entries(when).every(([key, allowed]) => allowed.includes(value[key] ?? parent.properties?.[key]?.default));
}

interface FieldProps {
  ctx: FormContext;
  name: string;
  schema: JsonSchema;
  value: unknown;
  required?: boolean;
  path: string;
  onChange(v: unknown): void;
  /** hide label (inside compact rows) */
  dense?: boolean;
}

const isScalar = (s: JsonSchema) => ['string', 'integer', 'number', 'boolean'].includes(String(s.type));

function errorsUnder(ctx: FormContext, path: string): string | undefined {
  return ctx.problems.get(path);
}

export function Field(props: FieldProps) {
  const { ctx, schema: raw, path } = props;
  const unwrapped = unwrapNullable(ctx.root, raw);
  const nullable = unwrapped.nullable;
  // a property's label is its own title or its name, never the title of the type it refers to ("TimeBucket")
  const schema = raw.$ref || unwrapped.nullable ? { ...unwrapped.schema, title: raw.title } : unwrapped.schema;
  const alts = schema.anyOf ?? schema.oneOf;
  if (alts) {
    const resolved = alts.map((a) => resolveRef(ctx.root, a)).filter((a) => a.type !== 'null');
    if (resolved.every(isScalar)) return <ScalarUnionField {...props} schema={{ ...schema, anyOf: resolved }} />;
    return <UnionField {...props} schema={{ ...schema, anyOf: resolved }} nullable={nullable} />;
  }
  const widget = schema['x-widget'];
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  const error = errorsUnder(ctx, path);
  if (schema.enum) return <EnumField {...props} schema={schema} nullable={nullable} error={error} />;
  if (type === 'boolean') return <BoolField {...props} schema={schema} error={error} />;
  if (type === 'array') return <ArrayField {...props} schema={schema} error={error} />;
  if (type === 'object' || schema.properties) {
    if (schema.properties) return <NestedObjectField {...props} schema={schema} nullable={nullable} error={error} />;
    return <MapField {...props} schema={schema} error={error} />;
  }
  if (widget === 'sql' || widget === 'expression') return <CodeField label={labelOf(props.name, schema)} language={widget} required={props.required} value={(props.value as string) ?? ''} onChange={(v) => props.onChange(v === '' && !props.required ? undefined : v)} helper={error ?? schema.description} error={!!error} />;
  if (widget === 'connection') return <ConnectionField {...props} schema={schema} error={error} />;
  if (widget === 'column') return <ColumnField {...props} schema={schema} error={error} />;
  return <TextLikeField {...props} schema={schema} nullable={nullable} error={error} type={type} />;
}

const labelOf = (name: string, s: JsonSchema) => s.title ?? humanize(name);

function Helper({ text, error }: { text?: string; error?: boolean }) {
  if (!text) return null;
  return <FormHelperText error={error}>{text}</FormHelperText>;
}

function TextLikeField({ name, schema, value, required, onChange, error, type, nullable, dense }: FieldProps & { error?: string; type?: string; nullable?: boolean }) {
  const widget = schema['x-widget'];
  const secret = widget === 'password' || schema.writeOnly === true || schema.format === 'password';
  const numeric = type === 'integer' || type === 'number';
  const placeholder = schema.default !== undefined && schema.default !== null ? String(schema.default) : nullable ? '(empty)' : undefined;
  const parse = (text: string): unknown => {
    if (text === '') return undefined;
    if (numeric) {
      const n = Number(text);
      return Number.isNaN(n) ? text : n;
    }
    return text;
  };
  const common = {
    label: dense ? undefined : labelOf(name, schema),
    required,
    error: !!error,
    helperText: error ?? (dense ? undefined : schema.description),
    fullWidth: true,
    size: 'small' as const,
    placeholder,
    inputProps: { 'aria-label': labelOf(name, schema) },
  };
  if (schema.examples?.length && !secret && !numeric) {
    return (
      <Autocomplete
        freeSolo
        options={schema.examples.map(String)}
        value={(value as string) ?? ''}
        onInputChange={(_, v, reason) => reason !== 'reset' && onChange(parse(v))}
        onChange={(_, v) => onChange(parse(v ?? ''))}
        renderInput={(params) => <TextField {...params} {...common} inputProps={{ ...params.inputProps, 'aria-label': labelOf(name, schema) }} />}
      />
    );
  }
  return (
    <TextField
      {...common}
      type={secret ? 'password' : numeric ? 'number' : 'text'}
      autoComplete={secret ? 'new-password' : 'off'}
      value={value === undefined || value === null ? '' : String(value)}
      onChange={(e) => onChange(parse(e.target.value))}
      slotProps={{ htmlInput: { 'aria-label': labelOf(name, schema), ...(numeric ? { min: schema.minimum, max: schema.maximum, step: type === 'integer' ? 1 : 'any' } : {}), ...(widget === 'path' ? { style: { fontFamily: 'monospace' } } : {}) } }}
    />
  );
}

function EnumField({ name, schema, value, required, onChange, error, nullable, dense }: FieldProps & { error?: string; nullable?: boolean }) {
  const id = useId();
  const current = value ?? schema.default ?? '';
  return (
    <TextField
      select
      id={id}
      size="small"
      fullWidth
      label={dense ? undefined : labelOf(name, schema)}
      required={required}
      error={!!error}
      helperText={error ?? (dense ? undefined : schema.description)}
      value={current === null ? '' : String(current)}
      SelectProps={{ displayEmpty: nullable && !!schema['x-null-label'] }}
      onChange={(e) => {
        const opt = schema.enum!.find((x) => String(x) === e.target.value);
        onChange(e.target.value === '' ? (nullable ? null : undefined) : opt);
      }}
    >
      {(nullable || (!required && schema.default === undefined)) && (
        <MenuItem value="">
          <em>{schema['x-null-label'] ?? 'None'}</em>
        </MenuItem>
      )}
      {schema.enum!.map((opt) => (
        <MenuItem key={String(opt)} value={String(opt)}>
          {String(opt).replace(/_/g, ' ')}
        </MenuItem>
      ))}
    </TextField>
  );
}

function BoolField({ name, schema, value, onChange, error }: FieldProps & { error?: string }) {
  const checked = (value ?? schema.default ?? false) === true;
  return (
    <Box>
      <FormControlLabel control={<Switch checked={checked} onChange={(e) => onChange(e.target.checked)} />} label={labelOf(name, schema)} />
      <Helper text={error ?? schema.description} error={!!error} />
    </Box>
  );
}

function ColumnField({ ctx, name, schema, value, required, onChange, error, dense }: FieldProps & { error?: string }) {
  return (
    <Autocomplete
      freeSolo
      options={ctx.columns.map((c) => c.name)}
      value={(value as string) ?? ''}
      onInputChange={(_, v, reason) => reason !== 'reset' && onChange(v === '' ? undefined : v)}
      onChange={(_, v) => onChange(v || undefined)}
      renderOption={(p, opt) => {
        const { key, ...rest } = p as typeof p & { key: string };
        return (
          <li key={key} {...rest}>
            <ColumnOption name={opt} type={ctx.columns.find((c) => c.name === opt)?.type} />
          </li>
        );
      }}
      renderInput={(params) => (
        <TextField {...params} size="small" label={dense ? undefined : labelOf(name, schema)} required={required} error={!!error} helperText={error ?? (dense ? undefined : schema.description)} inputProps={{ ...params.inputProps, 'aria-label': labelOf(name, schema) }} />
      )}
    />
  );
}

function ColumnOption({ name, type }: { name: string; type?: string }) {
  return (
    <Stack direction="row" spacing={1} sx={{ width: '100%', justifyContent: 'space-between' }}>
      <span>{name}</span>
      {type && (
        <Typography variant="caption" color="text.secondary" sx={{ fontFamily: 'monospace' }}>
          {type}
        </Typography>
      )}
    </Stack>
  );
}

function ConnectionField({ ctx, name, schema, value, required, onChange, error }: FieldProps & { error?: string }) {
  return (
    <Stack direction="row" spacing={1} alignItems="flex-start">
      <TextField
        select
        size="small"
        fullWidth
        label={labelOf(name, schema)}
        required={required}
        error={!!error}
        helperText={error ?? (ctx.connections.length === 0 ? 'No connection yet: create one on the Connections page.' : schema.description)}
        value={(value as string) ?? ''}
        onChange={(e) => onChange(e.target.value || undefined)}
      >
        <MenuItem value="">
          <em>{schema['x-null-label'] ?? 'None'}</em>
        </MenuItem>
        {ctx.connections.map((c) => (
          <MenuItem key={c.id} value={c.name}>
            {c.name} <Typography component="span" variant="caption" color="text.secondary" sx={{ ml: 1 }}>{c.type}</Typography>
          </MenuItem>
        ))}
      </TextField>
      {ctx.onManageConnections && (
        <Button size="small" onClick={ctx.onManageConnections} sx={{ mt: 0.5, whiteSpace: 'nowrap' }}>
          Manage
        </Button>
      )}
    </Stack>
  );
}

function ArrayField(props: FieldProps & { error?: string }) {
  const { ctx, name, schema, value, onChange, error, path, required } = props;
  const items = resolveRef(ctx.root, schema.items ?? {});
  const list = Array.isArray(value) ? value : [];
  const widget = schema['x-widget'];
  if (isScalar(items) && !items.enum) {
    const isColumns = widget === 'columns' || items['x-widget'] === 'column';
    const options = isColumns ? ctx.columns.map((c) => c.name) : [];
    const itemErrors = list.map((_, i) => ctx.problems.get(`${path}/${i}`)).filter(Boolean);
    const err = error ?? itemErrors[0];
    return (
      <Autocomplete
        multiple
        freeSolo
        options={options}
        value={list.map(String)}
        onChange={(_, v) => onChange(v.length ? v.map((x) => (items.type === 'integer' || items.type === 'number' ? Number(x) : x)) : undefined)}
        renderTags={(vals, getTagProps) => vals.map((opt, index) => {
          const { key, ...rest } = getTagProps({ index });
          return <Chip key={key} size="small" label={opt} {...rest} />;
        })}
        renderOption={(p, opt) => {
          const { key, ...rest } = p as typeof p & { key: string };
          return (
            <li key={key} {...rest}>
              <ColumnOption name={opt} type={ctx.columns.find((c) => c.name === opt)?.type} />
            </li>
          );
        }}
        renderInput={(params) => (
          <TextField
            {...params}
            size="small"
            label={labelOf(name, schema)}
            required={required}
            error={!!err}
            placeholder={list.length ? undefined : isColumns ? (options.length ? 'Pick columns…' : 'Type a column name, Enter') : 'Type a value, Enter'}
            helperText={err ?? schema.description}
            inputProps={{ ...params.inputProps, 'aria-label': labelOf(name, schema) }}
          />
        )}
      />
    );
  }
  if (items.enum) {
    return (
      <Autocomplete
        multiple
        options={items.enum.map(String)}
        value={list.map(String)}
        onChange={(_, v) => onChange(v.length ? v : undefined)}
        renderInput={(params) => <TextField {...params} size="small" label={labelOf(name, schema)} error={!!error} helperText={error ?? schema.description} />}
      />
    );
  }
  // list of objects: one card per item
  return (
    <Section title={labelOf(name, schema)} description={schema.description} error={error} required={required}>
      <Stack spacing={1.5}>
        {list.map((item, i) => (
          <Paper key={i} variant="outlined" sx={{ p: 1.5, position: 'relative' }}>
            <Stack direction="row" alignItems="center" justifyContent="space-between" sx={{ mb: 1 }}>
              <Typography variant="caption" color="text.secondary">
                {labelOf(name, items).replace(/s$/, '')} {i + 1}
              </Typography>
              <Tooltip title="Remove">
                <IconButton size="small" aria-label={`Remove ${labelOf(name, schema)} ${i + 1}`} onClick={() => onChange(list.filter((_, j) => j !== i))}>
                  <DeleteOutlineIcon fontSize="small" />
                </IconButton>
              </Tooltip>
            </Stack>
            <Field ctx={ctx} name={`${name} ${i + 1}`} schema={items} value={item} path={`${path}/${i}`} onChange={(v) => onChange(list.map((x, j) => (j === i ? v : x)))} dense />
          </Paper>
        ))}
        <Box>
          <Button size="small" startIcon={<AddIcon />} onClick={() => onChange([...list, initialValue(ctx.root, items)])}>
            Add {(items.title ?? 'item').toLowerCase()}
          </Button>
        </Box>
      </Stack>
    </Section>
  );
}

function initialValue(root: JsonSchema, s: JsonSchema): unknown {
  const r = resolveRef(root, s);
  if (r.type === 'object' || r.properties) return {};
  if (r.type === 'array') return [];
  return r.default ?? undefined;
}

function NestedObjectField({ ctx, name, schema, value, onChange, error, path, nullable, dense, required }: FieldProps & { error?: string; nullable?: boolean }) {
  const obj = value && typeof value === 'object' ? (value as Record<string, unknown>) : null;
  const inner = <ObjectFields ctx={ctx} schema={schema} value={obj ?? {}} onChange={onChange} path={path} />;
  if (dense) return inner;
  if (nullable && obj === null) {
    return (
      <Section title={labelOf(name, schema)} description={schema.description} error={error}>
        <Button size="small" startIcon={<AddIcon />} onClick={() => onChange({})}>
          Set {labelOf(name, schema).toLowerCase()}
        </Button>
      </Section>
    );
  }
  return (
    <Section
      title={labelOf(name, schema)}
      description={schema.description}
      error={error}
      required={required}
      action={
        nullable ? (
          <Button size="small" color="inherit" onClick={() => onChange(null)}>
            Clear
          </Button>
        ) : undefined
      }
    >
      {inner}
    </Section>
  );
}

/** `{column: value}` maps (cast, case, fill_nulls...). Keys come from the upstream columns. */
function MapField({ ctx, name, schema, value, onChange, error, path }: FieldProps & { error?: string }) {
  const obj = value && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  const valueSchema = typeof schema.additionalProperties === 'object' ? schema.additionalProperties : { type: 'string' };
  const rows = Object.entries(obj);
  const rename = (oldKey: string, newKey: string) => {
    const next: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) next[k === oldKey ? newKey : k] = v;
    onChange(next);
  };
  const free = ctx.columns.map((c) => c.name).filter((c) => !(c in obj));
  return (
    <Section title={labelOf(name, schema)} description={schema.description} error={error}>
      <Stack spacing={1}>
        {rows.map(([k, v], i) => (
          <Stack key={i} direction="row" spacing={1} alignItems="flex-start">
            <Box sx={{ flex: 1 }}>
              <Autocomplete
                freeSolo
                options={free}
                value={k}
                onChange={(_, nv) => nv && rename(k, nv)}
                onInputChange={(_, nv, reason) => reason === 'input' && rename(k, nv)}
                renderInput={(params) => <TextField {...params} size="small" placeholder="column" inputProps={{ ...params.inputProps, 'aria-label': `${labelOf(name, schema)} key ${i + 1}` }} error={!!ctx.problems.get(`${path}/${k}`)} helperText={ctx.problems.get(`${path}/${k}`)} />}
              />
            </Box>
            <Box sx={{ flex: 1 }}>
              <Field ctx={ctx} name={`${labelOf(name, schema)} value ${i + 1}`} schema={valueSchema} value={v} path={`${path}/${k}`} onChange={(nv) => onChange({ ...obj, [k]: nv ?? '' })} dense />
            </Box>
            <IconButton size="small" aria-label={`Remove ${k || 'row'}`} onClick={() => onChange(setKey(obj, k, undefined))} sx={{ mt: 0.5 }}>
              <DeleteOutlineIcon fontSize="small" />
            </IconButton>
          </Stack>
        ))}
        <Box>
          <Button
            size="small"
            startIcon={<AddIcon />}
            onClick={() => {
              let key = free[0] ?? '';
              let n = 1;
              while (key in obj) key = `column_${n++}`;
              onChange({ ...obj, [key]: initialValue(ctx.root, valueSchema) ?? (resolveRef(ctx.root, valueSchema).enum?.[0] ?? '') });
            }}
          >
            Add
          </Button>
        </Box>
      </Stack>
    </Section>
  );
}

/** `string | integer | number | boolean`: one text box, typed on the way out. */
function ScalarUnionField(props: FieldProps) {
  const { schema, value, onChange } = props;
  const types = new Set((schema.anyOf ?? []).map((a) => a.type));
  const parse = (t: string): unknown => {
    if (t === '') return undefined;
    if (types.has('boolean') && (t === 'true' || t === 'false')) return t === 'true';
    if ((types.has('integer') || types.has('number')) && t.trim() !== '' && !Number.isNaN(Number(t))) return Number(t);
    return t;
  };
  return <TextLikeField {...props} schema={{ ...schema, anyOf: undefined, type: 'string' }} value={value === undefined || value === null ? '' : String(value)} onChange={(v) => onChange(parse((v as string) ?? ''))} error={props.ctx.problems.get(props.path)} />;
}

const altLabel = (s: JsonSchema) => (s.type === 'boolean' ? 'All / none' : s.type === 'array' ? 'A list' : s.title ?? String(s.type));

/** Two genuinely different shapes (e.g. trim: `true` or a list of columns): pick the shape first. */
function UnionField(props: FieldProps & { nullable?: boolean }) {
  const { ctx, name, schema, value, onChange, path } = props;
  const alts = schema.anyOf!;
  const current = Math.max(0, alts.findIndex((a) => (a.type === 'array' ? Array.isArray(value) : a.type === 'boolean' ? typeof value === 'boolean' || value === undefined : typeof value === a.type)));
  const chosen = alts[current];
  return (
    <Section title={labelOf(name, schema)} description={schema.description} error={ctx.problems.get(path)}>
      <Stack spacing={1}>
        <TextField select size="small" label="Form" value={String(current)} onChange={(e) => onChange(initialValue(ctx.root, alts[Number(e.target.value)]) ?? (alts[Number(e.target.value)].type === 'boolean' ? false : undefined))}>
          {alts.map((a, i) => (
            <MenuItem key={i} value={String(i)}>
              {altLabel(a)}
            </MenuItem>
          ))}
        </TextField>
        <Field ctx={ctx} name={name} schema={{ ...chosen, title: labelOf(name, schema), description: undefined, 'x-widget': chosen['x-widget'] ?? (chosen.type === 'array' && (chosen.items?.type === 'string') ? 'columns' : undefined) }} value={value ?? schema.default} path={path} onChange={onChange} />
      </Stack>
    </Section>
  );
}

function Section({ title, description, error, children, action, required }: { title: string; description?: string; error?: string; children: ReactNode; action?: ReactNode; required?: boolean }) {
  return (
    <Box component="fieldset" sx={{ border: 1, borderColor: error ? 'error.main' : 'divider', borderRadius: 1, px: 1.5, pt: 0.5, pb: 1.5, m: 0 }}>
      <Box component="legend" sx={{ px: 0.5, typography: 'body2', fontWeight: 600 }}>
        {title}
        {required ? ' *' : ''}
      </Box>
      <Stack direction="row" alignItems="flex-start" justifyContent="space-between">
        {description && (
          <Typography variant="caption" color="text.secondary" sx={{ display: 'block', mb: 1 }}>
            {description}
          </Typography>
        )}
        {action}
      </Stack>
      {error && (
        <Typography variant="caption" color="error" sx={{ display: 'block', mb: 1 }} role="alert">
          {error}
        </Typography>
      )}
      {children}
    </Box>
  );
}
