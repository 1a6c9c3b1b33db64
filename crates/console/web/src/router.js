// Pages by the address's fragment (`#/case/…`), so every view is a link that can be shared, and
// the server has one page to serve.

import { useEffect, useState } from 'preact/hooks';
import { pageOf } from './common.js';

export function parse(hash = location.hash) {
  const [path, search = ''] = hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean);
  return { page: parts[0] || '', rest: parts.slice(1), params: Object.fromEntries(new URLSearchParams(search)) };
}

// A word for the next page to show once (`takeFlash`): what happened on the way to it.
let flash = null;

export function takeFlash() {
  const said = flash;
  flash = null;
  return said;
}

export function go(hash, say = null) {
  flash = say;
  if (location.hash === hash) {
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = hash;
  }
}

// The list of a figure's cases (`/v1/cases?…`, as the API names it) as a page of the console.
export const casesLink = (apiPath) => pageOf('cases', apiPath);

export function useRoute() {
  const [route, setRoute] = useState(parse());
  useEffect(() => {
    const changed = () => setRoute(parse());
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return route;
}

// The dispatches a unit's figure counts (`/v1/stats/dispatches?…`) as a page of the console.
export const dispatchesLink = (apiPath) => pageOf('dispatches', apiPath);
