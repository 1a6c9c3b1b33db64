// The office's console: sign in, then the dashboard, worklists, cases and filing, all through
// the API (`/v1`) with the token kept in memory.

import { h, render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';
import { api, onSignIn, signIn, signOut, who } from './api.js';
import { currentLanguage, setLanguage, t, word } from './i18n.js';
import { isConnected, onStatus, startLive, stopLive } from './live.js';
import { finishSignIn } from './oidc.js';
import { parse, useRoute } from './router.js';
import { SignIn } from './signin.js';
import { Dashboard } from './dashboard.js';
import { CaseList } from './cases.js';
import { CasePage } from './case.js';
import { FilingPage } from './filing.js';
import { DispatchList } from './dispatches.js';

const html = htm.bind(h);

function home(claims) {
  return ['supervisor', 'admin'].includes(claims?.role) ? '#/dashboard' : '#/cases?worklist=mine';
}

function Page({ route, claims, doc, directory }) {
  switch (route.page) {
    case 'dashboard':
      return html`<${Dashboard} params=${route.params} directory=${directory} />`;
    case 'cases':
      return html`<${CaseList} key=${JSON.stringify(route.params)} params=${route.params} directory=${directory} claims=${claims} />`;
    case 'case':
      return html`<${CasePage} key=${route.rest[0]} id=${route.rest[0]} doc=${doc} directory=${directory} />`;
    case 'dispatches':
      return html`<${DispatchList} key=${JSON.stringify(route.params)} params=${route.params} directory=${directory} />`;
    case 'file':
      return html`<${FilingPage} kind=${route.rest[0]} doc=${doc} directory=${directory} />`;
    default:
      // Only while the address still says this: one set meanwhile (a link followed while the
      // console was loading) has its hashchange on the way, and is not overridden.
      if (parse().page === route.page) location.replace(home(claims));
      return null;
  }
}

function App({ config, failure }) {
  const [claims, setClaims] = useState(who());
  const [language, setLang] = useState(currentLanguage());
  const [doc, setDoc] = useState(null);
  const [directory, setDirectory] = useState(null);
  const [live, setLive] = useState(isConnected());
  const route = useRoute();

  useEffect(() => onSignIn(setClaims), []);
  useEffect(() => onStatus(setLive), []);
  useEffect(() => {
    if (!claims) return undefined;
    api('/openapi.json').then(setDoc);
    api('/v1/directory').then(setDirectory).catch(() => setDirectory({}));
    startLive();
    return stopLive;
  }, [claims]);

  const switchLanguage = () => {
    const next = language === 'en' ? 'zh-CN' : 'en';
    setLanguage(next);
    localStorage.setItem('docket.lang', next);
    setLang(next);
  };

  const header = html`<header class="top">
    <a class="brand" href="#/">${t('app.title')}</a>
    ${claims && html`<nav aria-label="main">
      <a href="#/dashboard" aria-current=${route.page === 'dashboard' ? 'page' : undefined}>${t('nav.dashboard')}</a>
      <a href="#/cases?worklist=mine" aria-current=${route.page === 'cases' ? 'page' : undefined}>${t('nav.worklist')}</a>
      <a href="#/file/hazard" aria-current=${route.page === 'file' ? 'page' : undefined}>${t('nav.file')}</a>
    </nav>`}
    <div class="who">
      ${claims && html`<span class=${live ? 'live on' : 'live'} data-live=${String(live)} role="status">${live ? t('live.on') : t('live.off')}</span>
        <span>${word('role', claims.role)}${claims.unit ? ` · ${claims.unit}` : ''}${claims.grids?.length ? ` · ${claims.grids.join(', ')}` : ''}</span>
        <button type="button" class="link" onClick=${() => { signOut(); location.hash = '#/'; }}>${t('app.signOut')}</button>`}
      <button type="button" class="link" lang=${language === 'en' ? 'zh-CN' : 'en'} onClick=${switchLanguage}>${t('app.language')}</button>
    </div>
  </header>`;

  return html`<div key=${language}>
    ${header}
    <main id="main">
      ${!claims && html`<${SignIn} config=${config} failure=${failure} />`}
      ${claims && (!doc || !directory) && html`<p role="status">${t('common.loading')}</p>`}
      ${claims && doc && directory && html`<${Page} route=${route} claims=${claims} doc=${doc} directory=${directory} />`}
    </main>
  </div>`;
}

async function start() {
  setLanguage(localStorage.getItem('docket.lang') || 'zh-CN');
  const config = await fetch('/console/config.json').then((r) => r.json()).catch(() => ({}));
  let failure = null;
  if (config.oidc) {
    try {
      const back = await finishSignIn(config.oidc);
      if (back?.token) signIn(back.token);
    } catch (e) {
      failure = e.message;
    }
  }
  const root = document.getElementById('app');
  root.textContent = '';
  render(html`<${App} config=${config} failure=${failure} />`, root);
}

start();
