import type { Backend } from './backend';
import { httpBackend } from './http';
import { mockBackend } from './mock';

const MODE_KEY = 'ecluse.mode';

/** `?demo=1` (or the sign-in page's "demo" button) switches to the in-browser backend. */
export function setDemoMode(on: boolean) {
  if (on) localStorage.setItem(MODE_KEY, 'mock');
  else localStorage.removeItem(MODE_KEY);
}

export function backend(): Backend {
  if (typeof window !== 'undefined' && new URLSearchParams(window.location.search).get('demo') === '1') {
    localStorage.setItem(MODE_KEY, 'mock');
  }
  return localStorage.getItem(MODE_KEY) === 'mock' ? mockBackend : httpBackend;
}

export { ApiError } from './backend';
export type { Backend } from './backend';
