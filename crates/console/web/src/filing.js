// Filing a case of any kind: the form of that kind's filing schema, with the directory's
// communities, grids, units and categories to choose from, photos uploaded as evidence and the
// phone's location when it is allowed.

import { h } from 'preact';
import htm from 'htm';
import { api } from './api.js';
import { t, word } from './i18n.js';
import { SchemaForm } from './form.js';
import { go } from './router.js';
import { KINDS } from './common.js';

const html = htm.bind(h);

export function FilingPage({ kind, doc, directory }) {
  const chosen = KINDS.includes(kind) ? kind : 'hazard';
  const schema = { $ref: `#/components/schemas/filing.${chosen}` };
  const file = async (body) => {
    const answer = await api('/v1/cases', { method: 'POST', body: { ...body, kind: chosen } });
    go(`#/case/${answer.case_id}`);
  };
  return html`<section aria-labelledby="file-title">
    <h1 id="file-title">${t('file.title')}</h1>
    <nav class="tabs" aria-label=${t('file.kind')}>
      ${KINDS.map((k) => html`<a href=${`#/file/${k}`} aria-current=${k === chosen ? 'page' : undefined}>${word('kind', k)}</a>`)}
    </nav>
    <${SchemaForm} key=${chosen} doc=${doc} directory=${directory} prefix=${`file-${chosen}`} schema=${schema}
      initial=${{ kind: chosen }} submitLabel=${t('nav.file')} onSubmit=${file} />
  </section>`;
}
