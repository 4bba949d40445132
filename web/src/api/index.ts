import type { Backend } from './backend';
import { httpBackend } from './http';

/** The server's API (`/api/v1`), through the client generated from its OpenAPI document. */
export function backend(): Backend {
  return httpBackend;
}

export { ApiError } from './backend';
export type { Backend } from './backend';
