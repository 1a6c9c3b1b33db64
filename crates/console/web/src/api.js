// The console is a client of the API like any other: every call goes to /v1 with the bearer
// token, which lives in this module's memory only (never in local or session storage).

import { claimsOf } from './common.js';

let token = null;
let claims = null;
const listeners = new Set();

export function signIn(newToken) {
  if (newToken.trim().split('.').length !== 3) throw new Error('not a JSON Web Token (three parts separated by dots)');
  const payload = claimsOf(newToken.trim());
  token = newToken.trim();
  claims = payload;
  listeners.forEach((f) => f(claims));
}

export function signOut() {
  token = null;
  claims = null;
  listeners.forEach((f) => f(null));
}

export function who() {
  return claims;
}

export function bearer() {
  return token;
}

export function onSignIn(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}

// A refusal or error as the API words it (application/problem+json).
export class Problem extends Error {
  constructor(status, body) {
    super(body?.detail || body?.title || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
    this.body = body;
  }
}

// Calls the API; answers the parsed JSON, or throws a Problem.
export async function api(path, { method = 'GET', body, headers = {}, raw = false } = {}) {
  const init = { method, headers: { ...headers } };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    if (body instanceof Blob) {
      init.body = body;
      init.headers['Content-Type'] = body.type;
    } else {
      init.body = JSON.stringify(body);
      init.headers['Content-Type'] = 'application/json';
    }
  }
  const response = await fetch(path, init);
  if (!response.ok) {
    let problem = null;
    try {
      problem = await response.json();
    } catch {
      problem = { detail: response.statusText };
    }
    throw new Problem(response.status, problem);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

// `{a: 1, b: undefined}` → `a=1`, leaving out what is empty.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  return q.toString();
}
