// The dispatches behind a unit's figure in the coordinated response network's table (GET
// /v1/stats/dispatches, narrowed as the figure counts): each with its case, when it was sent,
// due and checked in, returned, and how the resident rated the reply.

import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { api, query } from './api.js';
import { t, word } from './i18n.js';
import { ProblemView, directoryName, formatTime } from './common.js';

const html = htm.bind(h);

export function DispatchList({ params, directory }) {
  const [answer, setAnswer] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let live = true;
    api(`/v1/stats/dispatches?${query(params)}`)
      .then((a) => live && setAnswer(a))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [query(params)]);
  if (error) return html`<${ProblemView} problem=${error} />`;
  if (!answer) return html`<p role="status">${t('common.loading')}</p>`;
  return html`<section aria-labelledby="disp-title">
    <h1 id="disp-title">${t('disp.title')}: ${directoryName(directory, 'unit', params.unit)} (${answer.count})</h1>
    <p class="muted">${answer.from} – ${answer.to}</p>
    <div class="table-wrap"><table class="dispatch-list">
      <caption class="visually-hidden">${t('disp.title')}</caption>
      <thead><tr><th scope="col">${t('disp.case')}</th><th scope="col">${t('disp.unit')}</th><th scope="col">${t('disp.at')}</th>
        <th scope="col">${t('disp.by')}</th><th scope="col">${t('disp.checked')}</th><th scope="col">${t('disp.returned')}</th>
        <th scope="col">${t('disp.rating')}</th></tr></thead>
      <tbody>${answer.items.map((d) => html`<tr data-case-id=${d.case_id}>
        <td><a href=${`#/case/${d.case_id}`}>${d.number}</a></td>
        <td>${directoryName(directory, 'unit', d.unit)}</td>
        <td>${formatTime(d.dispatched_at)}</td>
        <td>${formatTime(d.check_in_by)}</td>
        <td>${formatTime(d.checked_in_at) || '—'}${d.late ? html` <strong class="overdue-flag">${word('figure', 'late')}</strong>` : ''}</td>
        <td>${formatTime(d.returned_at) || '—'}</td>
        <td>${d.rating ? word('value', d.rating) : '—'}</td>
      </tr>`)}</tbody></table></div>
  </section>`;
}
