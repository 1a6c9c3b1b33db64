// Lists of cases (GET /v1/cases): each role's worklists (mine, my unit, due soon, overdue, missed
// a deadline), the cases behind a figure (its query, as the figure names it), filters, text
// search and paging. New commits refresh the list.

import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { api, query } from './api.js';
import { t, word } from './i18n.js';
import { onChange } from './live.js';
import { go } from './router.js';
import { ProblemView, choices, directoryName, formatTime } from './common.js';

const html = htm.bind(h);

const WORKLISTS = ['mine', 'my-unit', 'due-soon', 'overdue', 'missed-deadline'];
const FILTERS = ['kind', 'community', 'grid', 'category'];
const PAGE = 50;

export function CaseList({ params, directory, claims }) {
  const [items, setItems] = useState(null);
  const [cursor, setCursor] = useState(null);
  const [error, setError] = useState(null);
  const [tick, setTick] = useState(0);
  const [q, setQ] = useState(params.q || '');
  const key = query(params);
  const worklists = WORKLISTS.filter((w) => w !== 'my-unit' || claims?.unit);

  useEffect(() => onChange(() => setTick((n) => n + 1)), []);
  useEffect(() => {
    let live = true;
    setError(null);
    api(`/v1/cases?${query({ ...params, limit: PAGE })}`)
      .then((page) => {
        if (!live) return;
        if (tick === 0) {
          setItems(page.items);
          setCursor(page.next_cursor);
          return;
        }
        // A refresh as commits arrive: the first page, new cases on top and changed ones
        // updated; the pages loaded below stay where they are.
        setItems((shown) => {
          const fresh = new Map(page.items.map((c) => [c.id, c]));
          const kept = (shown || []).map((c) => fresh.get(c.id) || c);
          const known = new Set(kept.map((c) => c.id));
          return [...page.items.filter((c) => !known.has(c.id)), ...kept];
        });
      })
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [key, tick]);

  const more = async () => {
    try {
      const page = await api(`/v1/cases?${query({ ...params, limit: PAGE, cursor })}`);
      setItems((shown) => {
        const known = new Set(shown.map((c) => c.id));
        return [...shown, ...page.items.filter((c) => !known.has(c.id))];
      });
      setCursor(page.next_cursor);
    } catch (e) {
      setError(e);
    }
  };
  const setParam = (name, value) => go(`#/cases?${query({ ...params, cursor: undefined, [name]: value })}`);

  return html`<section aria-labelledby="list-title">
    <h1 id="list-title">${params.worklist ? word('work', params.worklist) : t('list.title')}</h1>
    <nav class="tabs" aria-label=${t('nav.worklist')}>
      ${worklists.map((w) => html`<a href=${`#/cases?worklist=${w}`} aria-current=${params.worklist === w ? 'page' : undefined}>${t(`work.${w}`)}</a>`)}
      <a href="#/cases" aria-current=${!params.worklist && Object.keys(params).length === 0 ? 'page' : undefined}>${t('work.all')}</a>
    </nav>
    <form class="toolbar" role="search" onSubmit=${(e) => { e.preventDefault(); setParam('q', q); }}>
      <div class="field"><label for="list-q">${t('list.q')}</label>
        <input id="list-q" type="search" value=${q} onInput=${(e) => setQ(e.target.value)} /></div>
      ${FILTERS.map((f) => html`<div class="field"><label for=${`list-${f}`}>${word('field', f)}</label>
        <select id=${`list-${f}`} value=${params[f] || ''} onChange=${(e) => setParam(f, e.target.value)}>
          <option value="">${t('common.all')}</option>
          ${choices(directory, f).map((c) => html`<option value=${c.id}>${c.name}</option>`)}
        </select></div>`)}
      <div class="field check"><input id="list-overdue" type="checkbox" checked=${params.overdue === 'true'}
        onChange=${(e) => setParam('overdue', e.target.checked ? 'true' : undefined)} /><label for="list-overdue">${t('list.overdue')}</label></div>
      <button type="submit">${t('common.search')}</button>
    </form>
    <${ProblemView} problem=${error} />
    ${!items && !error && html`<p role="status">${t('common.loading')}</p>`}
    ${items && items.length === 0 && html`<p>${t('list.empty')}</p>`}
    ${items && items.length > 0 && html`<div class="table-wrap"><table class="case-list">
      <caption class="visually-hidden">${t('list.title')}</caption>
      <thead><tr>
        <th scope="col">${t('list.number')}</th><th scope="col">${t('list.titleCol')}</th><th scope="col">${t('list.kind')}</th>
        <th scope="col">${t('list.status')}</th><th scope="col">${t('list.where')}</th><th scope="col">${t('list.deadline')}</th>
      </tr></thead>
      <tbody>${items.map((c) => html`<tr key=${c.id} data-case-id=${c.id} class=${c.overdue ? 'overdue' : ''}>
        <td><a href=${`#/case/${c.id}`}>${c.number}</a></td>
        <td>${c.title}</td>
        <td>${word('kind', c.kind)}</td>
        <td><span class=${`status status-${c.status}`}>${word('status', c.status)}</span></td>
        <td>${c.names?.community || directoryName(directory, 'community', c.community)}${c.grid ? ` / ${c.names?.grid || directoryName(directory, 'grid', c.grid)}` : ''}</td>
        <td>${formatTime(c.deadline)}${c.overdue ? html` <strong class="overdue-flag">${t('list.overdue')}</strong>` : ''}</td>
      </tr>`)}</tbody></table></div>
      <p class="list-count" role="status">${t('list.shown')}: <span data-shown>${items.length}</span></p>
      ${cursor && html`<button type="button" class="more" onClick=${more}>${t('common.more')}</button>`}`}
  </section>`;
}
