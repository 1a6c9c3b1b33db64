// Forms built from the API document: a filing's or an action's input schema becomes its form, so
// every kind's every action has one without a page of its own. Ids of the directory become
// choices from the tenant's directory, evidence becomes a photo upload, a location the phone's.

import { h } from 'preact';
import { useState } from 'preact/hooks';
import htm from 'htm';
import { api } from './api.js';
import { t, word } from './i18n.js';
import { ProblemView, entriesFor } from './common.js';

const html = htm.bind(h);

// The directory's ids, by the schema that names them, and the dimension they are entries of.
const DIRECTORY_IDS = {
  CommunityId: 'community',
  GridId: 'grid',
  UnitId: 'unit',
  CategoryId: 'category',
};

// Fields whose text runs to sentences.
const LONG_TEXT = /^(description|note|measures|reason|summary|terms|answer|text|situation|opinion|notice|basis|result)$/;

// `{$ref}` → the schema it names, and that name.
export function resolve(doc, schema) {
  let name = null;
  let s = schema || {};
  while (s.$ref) {
    name = s.$ref.split('/').pop();
    s = doc.components.schemas[name];
  }
  return { schema: s, name };
}

// A schema that may be null → the schema of its value, and that it may be left out.
function unwrap(doc, schema) {
  const alternatives = schema.oneOf || schema.anyOf;
  if (alternatives) {
    const rest = alternatives.filter((a) => a.type !== 'null');
    if (rest.length === 1) {
      const inner = unwrap(doc, rest[0]);
      return { ...inner, optional: true, description: schema.description || inner.description };
    }
  }
  const { schema: s, name } = resolve(doc, schema);
  if (Array.isArray(s.type) && s.type.includes('null')) {
    const types = s.type.filter((x) => x !== 'null');
    return { schema: { ...s, type: types.length === 1 ? types[0] : types }, name, optional: true, description: schema.description || s.description };
  }
  return { schema: s, name, optional: false, description: schema.description || s.description };
}

function fieldId(prefix, path) {
  return `${prefix}-${path.join('-')}`;
}

function setAt(value, path, v) {
  if (path.length === 0) return v;
  const [head, ...rest] = path;
  const copy = Array.isArray(value) ? [...value] : { ...(value || {}) };
  copy[head] = setAt(copy[head], rest, v);
  return copy;
}

function getAt(value, path) {
  return path.reduce((v, k) => (v === undefined || v === null ? undefined : v[k]), value);
}

// What the form holds, as the API takes it: blanks left out (a required list as an empty one, so
// the API says what it must hold), text trimmed, numbers as numbers (what is not one is sent as
// typed, for the API to refuse in its words).
function clean(doc, schema, value, required = false) {
  const { schema: s } = unwrap(doc, schema);
  if (s.type === 'array' && required && (value === undefined || value === null)) return [];
  if (typeof value === 'string') value = value.trim();
  if (value === undefined || value === null || value === '') return undefined;
  if (s.type === 'object' || s.properties) {
    const out = {};
    const needed = new Set(s.required || []);
    for (const [k, sub] of Object.entries(s.properties || {})) {
      if (sub.const !== undefined) {
        out[k] = sub.const;
        continue;
      }
      const v = clean(doc, sub, value[k], needed.has(k));
      if (v !== undefined) out[k] = v;
    }
    return Object.keys(out).length ? out : undefined;
  }
  if (s.type === 'array') {
    const items = (value || []).map((v) => clean(doc, s.items, v)).filter((v) => v !== undefined);
    return items.length || required ? items : undefined;
  }
  if (s.type === 'integer' || s.type === 'number') {
    const n = Number(value);
    return Number.isFinite(n) && (s.type === 'number' || Number.isInteger(n)) ? n : value;
  }
  if (s.type === 'boolean') return Boolean(value);
  if (s.format === 'date-time') return new Date(value).toISOString();
  return value;
}

export function EvidenceField({ id, label, items, onChange }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const upload = async (event) => {
    const files = [...event.target.files];
    setBusy(true);
    setError(null);
    try {
      const kept = [];
      for (const file of files) {
        kept.push(await api('/v1/evidence', { method: 'POST', body: file }));
      }
      onChange([...(items || []), ...kept]);
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
      event.target.value = '';
    }
  };
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <input id=${id} type="file" accept="image/jpeg,image/png,image/webp,application/pdf" capture="environment" multiple onChange=${upload} />
    ${busy && html`<span class="hint" role="status">${t('file.uploading')}</span>`}
    ${error && html`<p class="error" role="alert">${error}</p>`}
    <ul class="evidence-list">
      ${(items || []).map((e) => html`<li key=${e.content_hash}><code>${e.content_hash.slice(0, 19)}…</code> ${e.media_type}, ${Math.round(e.size / 1024)} KiB
        <button type="button" class="link" onClick=${() => onChange(items.filter((x) => x !== e))}>${t('common.remove')}</button></li>`)}
    </ul>
  </div>`;
}

function LocationField({ id, label, value, onChange }) {
  const [note, setNote] = useState(null);
  const locate = () => {
    if (!navigator.geolocation) {
      setNote(t('file.noLocation'));
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (p) => {
        onChange({ latitude: p.coords.latitude, longitude: p.coords.longitude });
        setNote(t('file.located'));
      },
      () => setNote(t('file.noLocation')),
      { enableHighAccuracy: true, timeout: 10000 },
    );
  };
  return html`<fieldset class="field">
    <legend>${label}</legend>
    <button type="button" onClick=${locate}>${t('file.locate')}</button>
    ${note && html`<span class="hint" role="status">${note}</span>`}
    <div class="pair">
      <label for=${`${id}-lat`}>${word('field', 'latitude')}</label>
      <input id=${`${id}-lat`} type="number" step="any" value=${value?.latitude ?? ''}
        onInput=${(e) => onChange({ ...(value || {}), latitude: e.target.value })} />
      <label for=${`${id}-lon`}>${word('field', 'longitude')}</label>
      <input id=${`${id}-lon`} type="number" step="any" value=${value?.longitude ?? ''}
        onInput=${(e) => onChange({ ...(value || {}), longitude: e.target.value })} />
    </div>
  </fieldset>`;
}

// One field of the form, by its schema.
function Field({ doc, directory, prefix, path, schema, required, value, root, set }) {
  const key = path[path.length - 1];
  const { schema: s, name, optional, description } = unwrap(doc, schema);
  const id = fieldId(prefix, path);
  const mandatory = required && !optional;
  const label = html`${typeof key === 'number' ? `#${key + 1}` : word('field', key)}${mandatory ? html`<span class="req" aria-hidden="true"> *</span>` : ''}`;
  const hint = description ? html`<small id=${`${id}-hint`} class="hint">${description.split('\n')[0]}</small>` : null;
  const described = description ? `${id}-hint` : undefined;
  const current = getAt(value, path);
  const change = (v) => set(path, v);

  if (s.const !== undefined) return null;
  if (name && DIRECTORY_IDS[name]) {
    const choices = entriesFor(directory, DIRECTORY_IDS[name], root);
    return html`<div class="field">
      <label for=${id}>${label}</label>
      <select id=${id} required=${mandatory} aria-describedby=${described} value=${current ?? ''} onChange=${(e) => change(e.target.value)}>
        <option value="">—</option>
        ${choices.map((c) => html`<option value=${c.id}>${c.name} (${c.id})</option>`)}
      </select>${hint}</div>`;
  }
  if (name === 'Location') {
    return html`<${LocationField} id=${id} label=${label} value=${current} onChange=${change} />`;
  }
  if (s.enum) {
    return html`<div class="field">
      <label for=${id}>${label}</label>
      <select id=${id} required=${mandatory} aria-describedby=${described} value=${current ?? ''} onChange=${(e) => change(e.target.value)}>
        <option value="">—</option>
        ${s.enum.map((v) => html`<option value=${v}>${word('value', v)}</option>`)}
      </select>${hint}</div>`;
  }
  if (s.type === 'boolean') {
    return html`<div class="field check">
      <input id=${id} type="checkbox" checked=${Boolean(current)} aria-describedby=${described} onChange=${(e) => change(e.target.checked)} />
      <label for=${id}>${label}</label>${hint}</div>`;
  }
  if (s.type === 'integer' || s.type === 'number') {
    return html`<div class="field">
      <label for=${id}>${label}</label>
      <input id=${id} type="number" step=${s.type === 'integer' ? 1 : 'any'} min=${s.minimum} required=${mandatory}
        aria-describedby=${described} value=${current ?? ''} onInput=${(e) => change(e.target.value)} />${hint}</div>`;
  }
  if (s.type === 'array') {
    const { schema: item, name: itemName } = resolve(doc, s.items);
    const items = current || [];
    if (itemName === 'Evidence') {
      return html`<${EvidenceField} id=${id} label=${label} items=${items} onChange=${change} />`;
    }
    if (item.enum || DIRECTORY_IDS[itemName]) {
      const choices = item.enum
        ? item.enum.map((v) => ({ id: v, name: word('value', v) }))
        : entriesFor(directory, DIRECTORY_IDS[itemName], root);
      return html`<fieldset class="field choices"><legend>${label}</legend>
        ${choices.map((c, i) => html`<span class="choice">
          <input id=${`${id}-${i}`} type="checkbox" checked=${items.includes(c.id)}
            onChange=${(e) => change(e.target.checked ? [...items, c.id] : items.filter((x) => x !== c.id))} />
          <label for=${`${id}-${i}`}>${c.name}</label></span>`)}
        ${hint}</fieldset>`;
    }
    if (item.type === 'object' || item.properties) {
      return html`<fieldset class="field group"><legend>${label}</legend>
        ${items.map((_, i) => html`<div class="group-item">
          <${ObjectFields} doc=${doc} directory=${directory} prefix=${prefix} path=${[...path, i]} schema=${s.items} value=${value} root=${root} set=${set} />
          <button type="button" class="link" onClick=${() => change(items.filter((__, j) => j !== i))}>${t('common.remove')}</button>
        </div>`)}
        <button type="button" onClick=${() => change([...items, {}])}>${t('common.add')} ${word('field', key)}</button>
        ${hint}</fieldset>`;
    }
    return html`<div class="field">
      <label for=${id}>${label}</label>
      <textarea id=${id} rows="2" aria-describedby=${described} value=${items.join('\n')}
        onInput=${(e) => change(e.target.value.split('\n').map((x) => x.trim()).filter(Boolean))}></textarea>${hint}</div>`;
  }
  if (s.type === 'object' || s.properties) {
    return html`<fieldset class="field group"><legend>${label}</legend>
      <${ObjectFields} doc=${doc} directory=${directory} prefix=${prefix} path=${path} schema=${s} value=${value} root=${root} set=${set} />
      ${hint}</fieldset>`;
  }
  const type = s.format === 'date' ? 'date' : s.format === 'date-time' ? 'datetime-local' : 'text';
  if (type === 'text' && LONG_TEXT.test(key)) {
    return html`<div class="field">
      <label for=${id}>${label}</label>
      <textarea id=${id} rows="3" required=${mandatory} aria-describedby=${described} value=${current ?? ''}
        onInput=${(e) => change(e.target.value)}></textarea>${hint}</div>`;
  }
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <input id=${id} type=${type} required=${mandatory} aria-describedby=${described} value=${current ?? ''}
      onInput=${(e) => change(e.target.value)} />${hint}</div>`;
}

function ObjectFields({ doc, directory, prefix, path, schema, value, root, set }) {
  const { schema: s } = resolve(doc, schema);
  const required = new Set(s.required || []);
  return Object.entries(s.properties || {}).map(([k, sub]) => html`<${Field} key=${k} doc=${doc} directory=${directory}
    prefix=${prefix} path=${[...path, k]} schema=${sub} required=${required.has(k)} value=${value} root=${root} set=${set} />`);
}

// The form of one input schema. `onSubmit(body)` answers a promise; what it throws (the API's
// refusal) is shown under the form, in the API's words.
export function SchemaForm({ doc, directory, schema, prefix, submitLabel, onSubmit, initial = {} }) {
  const [value, setValue] = useState(initial);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState(null);
  const set = (path, v) => setValue((old) => setAt(old, path, v));
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      await onSubmit(clean(doc, schema, value) || {});
    } catch (e) {
      setProblem(e);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="schema-form" onSubmit=${submit} aria-busy=${busy}>
    <${ObjectFields} doc=${doc} directory=${directory} prefix=${prefix} path=${[]} schema=${schema} value=${value} root=${value} set=${set} />
    <${ProblemView} problem=${problem} />
    <button type="submit" class="primary" disabled=${busy}>${submitLabel || t('common.submit')}</button>
  </form>`;
}
