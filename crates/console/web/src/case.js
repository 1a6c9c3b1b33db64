// One case: its fields (people masked as the API masks them), deadline, units, 督办 notices,
// links, return visits, evidence photos, the full history with actor, time and hash, "verify this
// case" (the chain checked here, in the browser), and a form for each action the caller may take
// now, built from that action's input schema in the API document.

import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { api, query } from './api.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { t, word } from './i18n.js';
import { onCommit } from './live.js';
import { SchemaForm } from './form.js';
import { parseCommits, verifyChain } from './verify.js';
import { takeFlash } from './router.js';
import { ProblemView, formatTime } from './common.js';

const html = htm.bind(h);

function actionSchema(doc, kind, action) {
  const inputs = doc.paths['/v1/cases/{id}/actions/{action}'].post['x-docket-action-inputs'] || {};
  return inputs[kind]?.[action] || inputs.any?.[action] || { type: 'object', properties: {} };
}

function Value({ value }) {
  if (value === null || value === undefined || value === '') return html`<span class="muted">—</span>`;
  if (typeof value === 'boolean') return word('value', String(value));
  if (Array.isArray(value)) {
    if (value.length === 0) return html`<span class="muted">—</span>`;
    return html`<ul class="values">${value.map((v) => html`<li><${Value} value=${v} /></li>`)}</ul>`;
  }
  if (typeof value === 'object') {
    return html`<dl class="nested">${Object.entries(value).map(([k, v]) => html`<dt>${word('field', k)}</dt><dd><${Value} value=${v} /></dd>`)}</dl>`;
  }
  if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value)) return formatTime(value);
  return word('value', String(value));
}

// A photo the case names, fetched from this server's evidence store by its content hash (never
// by the address the filer wrote beside it) and shown only when its bytes have that hash.
function Photo({ evidence }) {
  const [url, setUrl] = useState(null);
  const hash = /^sha256:[0-9a-f]{64}$/.test(evidence.content_hash || '') ? evidence.content_hash : null;
  useEffect(() => {
    if (!hash || !evidence.media_type?.startsWith('image/')) return undefined;
    let objectUrl = null;
    api(`/v1/evidence/${hash}`, { raw: true })
      .then((r) => r.arrayBuffer())
      .then((bytes) => {
        if (`sha256:${bytesToHex(sha256(new Uint8Array(bytes)))}` !== hash) return;
        objectUrl = URL.createObjectURL(new Blob([bytes], { type: evidence.media_type }));
        setUrl(objectUrl);
      })
      .catch(() => {});
    return () => objectUrl && URL.revokeObjectURL(objectUrl);
  }, [hash]);
  return html`<figure class="photo">
    ${url ? html`<img src=${url} alt=${`${t('case.evidence')} ${evidence.content_hash.slice(7, 19)}`} />` : html`<div class="photo-placeholder">${evidence.media_type}</div>`}
    <figcaption><code>${String(evidence.content_hash).slice(0, 19)}…</code></figcaption>
  </figure>`;
}

export function CasePage({ id, doc, directory }) {
  const [detail, setDetail] = useState(null);
  const [history, setHistory] = useState(null);
  const [error, setError] = useState(null);
  const [open, setOpen] = useState(null);
  const [done, setDone] = useState(() => takeFlash());
  const [check, setCheck] = useState(null);
  const [tick, setTick] = useState(0);

  useEffect(() => onCommit((c) => c.case_id === id && setTick((n) => n + 1)), [id]);
  useEffect(() => {
    let live = true;
    Promise.all([api(`/v1/cases/${id}`), api(`/v1/cases/${id}/history`)])
      .then(([d, hist]) => {
        if (!live) return;
        setDetail(d);
        setHistory(hist.commits);
        setError(null);
      })
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [id, tick]);

  const verify = async () => {
    setCheck({ running: true });
    try {
      // The history shown, then the chain (a commit may land between: it is checked too).
      const hist = (await api(`/v1/cases/${id}/history`)).commits;
      const response = await api(`/v1/cases/${id}/commits`, { raw: true });
      setCheck(verifyChain(parseCommits(await response.text()), hist));
    } catch (e) {
      setCheck({ ok: false, version: '?', why: e.message });
    }
  };

  const act = async (action, body) => {
    const answer = await api(`/v1/cases/${id}/actions/${action}`, {
      method: 'POST',
      body,
      headers: { 'If-Match': `"${detail.version}"` },
    });
    setOpen(null);
    setDone(t('case.done', { action: word('action', action), status: word('status', answer.status) }));
    const [d, hist] = await Promise.all([
      api(`/v1/cases/${id}?${query({ min_position: answer.position })}`).catch(() => api(`/v1/cases/${id}`)),
      api(`/v1/cases/${id}/history`),
    ]);
    setDetail(d);
    setHistory(hist.commits);
    setCheck(null);
  };

  if (error) return html`<${ProblemView} problem=${error} />`;
  if (!detail) return html`<p role="status">${t('common.loading')}</p>`;
  const fields = Object.entries(detail.case || {}).filter(([k]) => !['status', 'evidence', 'deadline'].includes(k));
  // The kind's own evidence (a hazard's report, its rectification) and what was attached since.
  const evidence = [...(detail.case?.evidence || []), ...(detail.case?.handling?.evidence || [])]
    .filter((e, i, all) => all.findIndex((x) => x.content_hash === e.content_hash) === i);
  const names = detail.names || {};
  return html`<article class="case" aria-labelledby="case-title" data-case-status=${detail.status}>
    <header class="case-head">
      <h1 id="case-title"><span class="number">${detail.number}</span> ${detail.case?.title || ''}</h1>
      <p><span class="badge">${word('kind', detail.kind)}</span>
        <span class=${`status status-${detail.status}`} data-status>${word('status', detail.status)}</span>
        <span class="muted">${t('case.version')} ${detail.version} · ${formatTime(detail.filed_at)}</span></p>
      ${done && html`<p class="notice" role="status">${done}</p>`}
    </header>
    <div class="case-grid">
      <section aria-labelledby="case-fields"><h2 id="case-fields">${t('case.fields')}</h2>
        <dl class="fields">${fields.map(([k, v]) => html`<dt>${word('field', k)}</dt><dd>${names[k] ? `${names[k]} (${v})` : html`<${Value} value=${v} />`}</dd>`)}</dl>
      </section>
      <section aria-labelledby="case-deadline"><h2 id="case-deadline">${t('case.deadline')}</h2>
        ${detail.deadline ? html`<dl class="fields">
          <dt>${t('case.step')}</dt><dd>${detail.deadline.step ? word('action', detail.deadline.step) : '—'}</dd>
          <dt>${t('case.due')}</dt><dd>${formatTime(detail.deadline.due) || '—'}${detail.deadline.overdue ? html` <strong class="overdue-flag">${t('list.overdue')}</strong>` : ''}</dd>
          ${Object.entries(detail.deadline).filter(([k]) => !['step', 'due', 'overdue'].includes(k)).map(([k, v]) => html`<dt>${word('field', k)}</dt><dd><${Value} value=${v} /></dd>`)}
        </dl>` : html`<p class="muted">—</p>`}
        <h2>${t('case.units')}</h2>
        <dl class="fields"><dt>${t('case.lead')}</dt><dd>${names.lead_unit || detail.lead_unit || '—'}</dd>
          <dt>${t('case.co')}</dt><dd>${detail.co_handlers.length ? detail.co_handlers.join('、') : '—'}</dd></dl>
        ${detail.supervision?.length > 0 && html`<h2>${t('case.notices')}</h2><${Value} value=${detail.supervision} />`}
        ${(detail.links?.length > 0 || detail.links_outside_reach > 0) && html`<h2>${t('case.links')}</h2>
          <ul>${detail.links.map((l) => html`<li><a href=${`#/case/${l.case_id || l.id}`}>${l.number || l.case_id}</a> ${l.relation || l.kind || ''}</li>`)}</ul>
          ${detail.links_outside_reach > 0 && html`<p class="muted">+${detail.links_outside_reach}</p>`}`}
        ${detail.return_visits?.length > 0 && html`<h2>${t('case.visits')}</h2><${Value} value=${detail.return_visits} />`}
      </section>
    </div>
    ${evidence.length > 0 && html`<section aria-labelledby="case-evidence"><h2 id="case-evidence">${t('case.evidence')}</h2>
      <div class="photos">${evidence.map((e) => html`<${Photo} key=${e.content_hash} evidence=${e} />`)}</div></section>`}
    <section aria-labelledby="case-actions"><h2 id="case-actions">${t('case.actions')}</h2>
      ${detail.allowed_actions.length === 0 && html`<p class="muted">${t('case.noActions')}</p>`}
      <div class="actions">${detail.allowed_actions.map((a) => html`<button type="button" data-action=${a} aria-expanded=${open === a}
        class=${open === a ? 'active' : ''} onClick=${() => { setOpen(open === a ? null : a); setDone(null); }}>${word('action', a)}</button>`)}</div>
      ${open && html`<div class="action-form" data-action-form=${open}>
        <h3>${word('action', open)}</h3>
        <${SchemaForm} key=${open} doc=${doc} directory=${directory} prefix=${`act-${open}`}
          schema=${actionSchema(doc, detail.kind, open)} submitLabel=${word('action', open)} onSubmit=${(body) => act(open, body)} />
      </div>`}
    </section>
    <section aria-labelledby="case-history"><h2 id="case-history">${t('case.history')}</h2>
      <p><button type="button" data-verify onClick=${verify}>${t('case.verify')}</button>
        ${check && !check.running && html` <span role="status" class=${check.ok ? 'ok' : 'bad'} data-verified=${String(check.ok)}>
          ${check.ok ? t('case.verified', { n: check.n }) : t('case.broken', { v: check.version, why: check.why })}</span>`}</p>
      <div class="table-wrap"><table class="history">
        <caption class="visually-hidden">${t('case.history')}</caption>
        <thead><tr><th scope="col">${t('case.version')}</th><th scope="col">${t('case.time')}</th><th scope="col">${t('case.actor')}</th>
          <th scope="col">${t('case.command')}</th><th scope="col">${t('case.events')}</th><th scope="col">${t('case.hash')}</th></tr></thead>
        <tbody>${(history || []).map((c) => html`<tr data-version=${c.version}>
          <td>${c.version}</td><td>${formatTime(c.recorded_at)}</td>
          <td>${word('role', c.actor.role)}${c.actor.unit ? ` · ${c.actor.unit}` : ''}<br /><small class="muted">${c.actor.id}</small></td>
          <td>${word('action', c.command)}</td>
          <td>${c.events.map((e) => html`<div>${e.type}</div>`)}</td>
          <td><code title=${c.hash}>${c.hash.slice(0, 12)}</code></td></tr>`)}</tbody></table></div>
    </section>
  </article>`;
}
