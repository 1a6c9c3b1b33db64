// What the pages share: the kinds, the directory's entries by dimension, how times and problems
// are shown, and links from the API's lists to the console's pages.

import { h } from 'preact';
import htm from 'htm';
import { t, word } from './i18n.js';

const html = htm.bind(h);

export const KINDS = ['hazard', 'dispute', 'petition', 'risk_event', 'livelihood'];

// Where the directory (`GET /v1/directory`) keeps the entries of each dimension.
const ENTRIES = { community: 'communities', grid: 'grids', category: 'categories', unit: 'units' };

// The choices for a dimension: the kinds, or the directory's entries in service (once each;
// categories are listed per kind).
export function choices(directory, dimension) {
  if (dimension === 'kind') return KINDS.map((k) => ({ id: k, name: word('kind', k) }));
  const seen = new Set();
  return (directory?.[ENTRIES[dimension]] || []).filter((e) => !e.retired && !seen.has(e.id) && seen.add(e.id));
}

// The entries of a dimension as a form offers them: grids of the community chosen, categories of
// the kind filed.
export function entriesFor(directory, dimension, value) {
  const entries = (directory?.[ENTRIES[dimension]] || []).filter((e) => !e.retired);
  if (dimension === 'grid' && value?.community) return entries.filter((g) => !g.community || g.community === value.community);
  if (dimension === 'category' && value?.kind) return entries.filter((c) => !c.kind || c.kind === value.kind);
  return entries;
}

export function directoryName(directory, dimension, id) {
  if (id === null || id === undefined || id === '') return '—';
  if (dimension === 'kind') return word('kind', id);
  const found = (directory?.[ENTRIES[dimension]] || []).find((e) => e.id === id);
  return found ? found.name : id;
}

export function formatTime(value) {
  if (!value) return '';
  return new Date(value).toLocaleString(document.documentElement.lang, { dateStyle: 'short', timeStyle: 'short' });
}

// A refusal or failure as the API words it.
export function ProblemView({ problem }) {
  if (!problem) return null;
  return html`<div class="problem" role="alert">
    <strong>${problem.body?.title || t('common.error')}</strong>
    <p class="problem-detail">${problem.message}</p>
    ${problem.body?.errors && html`<ul>${problem.body.errors.map((e) => html`<li>${e.field || e.pointer || ''}: ${e.message || e.detail || JSON.stringify(e)}</li>`)}</ul>`}
  </div>`;
}

// An API list (`/v1/cases?…`, `/v1/stats/dispatches?…`) as the console's page of it.
export function pageOf(page, apiPath) {
  const search = apiPath.includes('?') ? apiPath.slice(apiPath.indexOf('?') + 1) : '';
  return `#/${page}?${search}`;
}

// The claims of a JSON Web Token, unverified (the server verifies; the page only shows them).
export function claimsOf(jwt) {
  const part = jwt.split('.')[1] || '';
  const base64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))));
}
