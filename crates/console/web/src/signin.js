// Signing in: a demo role (where the server offers them), the identity provider, or a pasted
// token. Whatever the way, the token is kept in memory only.

import { h } from 'preact';
import { useState } from 'preact/hooks';
import htm from 'htm';
import { api, signIn } from './api.js';
import { t, word } from './i18n.js';
import { beginSignIn } from './oidc.js';

const html = htm.bind(h);

export function SignIn({ config, failure }) {
  const [pasted, setPasted] = useState('');
  const [error, setError] = useState(failure || null);
  const demo = config?.demo?.roles || [];
  const useToken = async (token) => {
    try {
      signIn(token);
    } catch (e) {
      setError(e.message);
    }
  };
  const pick = async (role) => {
    try {
      const { token } = await api('/console/demo-token', { method: 'POST', body: { role } });
      useToken(token);
    } catch (e) {
      setError(e.message);
    }
  };
  return html`<section class="signin" aria-labelledby="signin-title">
    <h1 id="signin-title">${t('signin.title')}</h1>
    ${error && html`<p class="problem" role="alert">${t('signin.failed')}: ${error}</p>`}
    ${config?.oidc && html`<p><button type="button" class="primary" onClick=${() => beginSignIn(config.oidc).catch((e) => setError(e.message))}>${t('signin.oidc')}</button></p>`}
    ${demo.length > 0 && html`<fieldset class="demo-roles"><legend>${t('signin.demo')}</legend>
      <p class="hint">${t('signin.demoHint')}</p>
      ${demo.map((r) => html`<button type="button" data-role=${r.role} onClick=${() => pick(r.role)}>
        ${word('role', r.role)}${r.unit ? ` · ${r.unit}` : ''}${r.grids?.length ? ` · ${r.grids.join(', ')}` : ''}</button>`)}
    </fieldset>`}
    <form onSubmit=${(e) => { e.preventDefault(); useToken(pasted); }}>
      <div class="field"><label for="signin-token">${t('signin.tokenLabel')}</label>
        <textarea id="signin-token" rows="3" autocomplete="off" spellcheck="false" value=${pasted} onInput=${(e) => setPasted(e.target.value)}></textarea></div>
      <button type="submit">${t('signin.use')}</button>
    </form>
  </section>`;
}
