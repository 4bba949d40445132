/**
 * A JSON Schema document, as pydantic emits it (the subset the form renderer understands). Not an API
 * shape: module configs, connection types and pipeline settings all arrive as JSON Schema.
 */
export interface JsonSchema {
  type?: string | string[];
  title?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  examples?: unknown[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  format?: string;
  writeOnly?: boolean;
  'x-widget'?: string;
  /** what an empty choice means, e.g. "Detect from the file" (default: None) */
  'x-null-label'?: string;
  /** show the field only while these siblings hold one of these values */
  'x-show-when'?: Record<string, unknown[]>;
  [k: string]: unknown;
}
