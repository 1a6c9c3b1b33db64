// Signing in through the office's identity provider: OpenID Connect's authorization-code flow
// with PKCE (RFC 7636), the console a public client. The verifier and state wait in session
// storage for the redirect back (they are no credential); the tokens are kept in memory only.

import { sha256 } from '@noble/hashes/sha2.js';
import { claimsOf } from './common.js';

const PENDING = 'docket.oidc.pending';

function base64Url(bytes) {
  let text = '';
  bytes.forEach((b) => {
    text += String.fromCharCode(b);
  });
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomText(bytes = 32) {
  return base64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

async function discover(issuer) {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`the identity provider's configuration: HTTP ${response.status}`);
  const provider = await response.json();
  // OpenID Connect Discovery: the document must name the issuer it was fetched for.
  if (provider.issuer !== issuer) throw new Error(`the identity provider names itself ${provider.issuer}, not ${issuer}`);
  return provider;
}

// Sends the browser to the provider's sign-in page.
export async function beginSignIn(oidc) {
  const provider = await discover(oidc.issuer);
  const verifier = randomText(48);
  const challenge = base64Url(sha256(new TextEncoder().encode(verifier)));
  const state = randomText(16);
  const nonce = randomText(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, nonce, back: location.hash }));
  const url = new URL(provider.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: oidc.client_id,
    redirect_uri: oidc.redirect_url,
    scope: oidc.scope,
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
}

// On the way back from the provider: exchanges the code for tokens. Answers `{token, back}`,
// or null when this page load is not a sign-in's return.
export async function finishSignIn(oidc) {
  const params = new URLSearchParams(location.search);
  const code = params.get('code');
  const error = params.get('error');
  if (!code && !error) return null;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null');
  sessionStorage.removeItem(PENDING);
  // The code leaves the address bar and the history at once.
  history.replaceState(null, '', `${location.pathname}${pending?.back || ''}`);
  if (error) throw new Error(`${error}: ${params.get('error_description') || ''}`);
  if (!pending || params.get('state') !== pending.state) {
    throw new Error('the sign-in did not start here (state does not match)');
  }
  const provider = await discover(oidc.issuer);
  const response = await fetch(provider.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: oidc.redirect_url,
      client_id: oidc.client_id,
      code_verifier: pending.verifier,
    }).toString(),
  });
  const tokens = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(`the identity provider refused the code: ${tokens.error || response.status}`);
  }
  if (tokens.id_token) {
    // The ID token must be the answer to this sign-in: its nonce is the one sent.
    const claims = claimsOf(tokens.id_token);
    if (claims.nonce !== pending.nonce) throw new Error('the identity provider answered another sign-in (nonce does not match)');
    if (claims.iss !== oidc.issuer) throw new Error(`the ID token was issued by ${claims.iss}, not ${oidc.issuer}`);
    const audience = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!audience.includes(oidc.client_id)) throw new Error('the ID token is not for this console (aud)');
  }
  if (!tokens.access_token) throw new Error('the identity provider sent no access token');
  return { token: tokens.access_token, back: pending.back };
}
