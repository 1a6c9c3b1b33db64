// Filing a case of any kind: the form of that kind's filing schema, with the directory's
// communities, grids, units and categories to choose from, photos taken or chosen on the phone
// and its location when it is allowed. A kind whose filing names no evidence (all but the
// hazard) gets its photos by `attach-evidence` right after filing: each photo's content hash is
// recorded in the case's events either way.

import { h } from 'preact';
import { useState } from 'preact/hooks';
import htm from 'htm';
import { api } from './api.js';
import { t, word } from './i18n.js';
import { EvidenceField, SchemaForm, resolve } from './form.js';
import { go } from './router.js';
import { KINDS } from './common.js';

const html = htm.bind(h);

export function FilingPage({ kind, doc, directory }) {
  const chosen = KINDS.includes(kind) ? kind : 'hazard';
  const schema = { $ref: `#/components/schemas/filing.${chosen}` };
  const takesEvidence = Boolean(resolve(doc, schema).schema.properties?.evidence);
  const [photos, setPhotos] = useState([]);
  const file = async (body) => {
    const answer = await api('/v1/cases', { method: 'POST', body: { ...body, kind: chosen } });
    let said = null;
    if (!takesEvidence && photos.length) {
      try {
        await api(`/v1/cases/${answer.case_id}/actions/attach-evidence`, { method: 'POST', body: { evidence: photos } });
      } catch (e) {
        said = `${t('file.photosNotAttached')}: ${e.message}`;
      }
    }
    go(`#/case/${answer.case_id}`, said);
  };
  return html`<section aria-labelledby="file-title">
    <h1 id="file-title">${t('file.title')}</h1>
    <nav class="tabs" aria-label=${t('file.kind')}>
      ${KINDS.map((k) => html`<a href=${`#/file/${k}`} aria-current=${k === chosen ? 'page' : undefined}>${word('kind', k)}</a>`)}
    </nav>
    ${!takesEvidence && html`<div class="schema-form"><${EvidenceField} id=${`file-${chosen}-photos`} label=${word('field', 'evidence')}
      items=${photos} onChange=${setPhotos} /></div>`}
    <${SchemaForm} key=${chosen} doc=${doc} directory=${directory} prefix=${`file-${chosen}`} schema=${schema}
      initial=${{ kind: chosen }} submitLabel=${t('nav.file')} onSubmit=${file} />
  </section>`;
}
