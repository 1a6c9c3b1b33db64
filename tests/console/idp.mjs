// A stand-in identity provider on 127.0.0.1 for the sign-in test: OpenID Connect discovery, an
// authorization endpoint that signs the user straight in, a token endpoint that insists on PKCE
// (S256), and its keys as a JWKS. Tokens carry Docket's claims and are signed RS256.
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { createServer } from 'node:http';

const b64url = (data) => Buffer.from(data).toString('base64url');

export async function startIdp({ clientId, claims }) {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = 'console-test';
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  const codes = new Map();
  const seen = { authorize: [], token: [] };
  let issuer = '';

  const jwt = (payload) => {
    const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }));
    const body = b64url(JSON.stringify(payload));
    const signature = sign('sha256', Buffer.from(`${head}.${body}`), privateKey).toString('base64url');
    return `${head}.${body}.${signature}`;
  };
  const json = (res, status, value) => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Access-Control-Allow-Origin': '*' });
    res.end(JSON.stringify(value));
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url, issuer);
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        code_challenge_methods_supported: ['S256'],
      });
    }
    if (url.pathname === '/jwks') return json(res, 200, { keys: [jwk] });
    if (url.pathname === '/authorize') {
      const p = Object.fromEntries(url.searchParams);
      seen.authorize.push(p);
      if (p.client_id !== clientId || p.response_type !== 'code' || p.code_challenge_method !== 'S256' || !p.code_challenge) {
        return json(res, 400, { error: 'invalid_request' });
      }
      const code = randomBytes(16).toString('hex');
      codes.set(code, { challenge: p.code_challenge, redirect: p.redirect_uri, nonce: p.nonce });
      const back = new URL(p.redirect_uri);
      back.searchParams.set('code', code);
      back.searchParams.set('state', p.state);
      res.writeHead(302, { Location: back.toString() });
      return res.end();
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      req.on('data', (chunk) => { body += chunk; });
      req.on('end', () => {
        const p = Object.fromEntries(new URLSearchParams(body));
        seen.token.push(p);
        const pending = codes.get(p.code);
        codes.delete(p.code);
        const verified = pending && p.code_verifier
          && createHash('sha256').update(p.code_verifier).digest('base64url') === pending.challenge;
        if (!verified || p.client_id !== clientId || p.redirect_uri !== pending.redirect || p.grant_type !== 'authorization_code') {
          return json(res, 400, { error: 'invalid_grant' });
        }
        const now = Math.floor(Date.now() / 1000);
        const access = jwt({ ...claims, iss: issuer, iat: now, exp: now + 600 });
        const id = jwt({ sub: claims.sub, aud: clientId, iss: issuer, iat: now, exp: now + 600, nonce: pending.nonce });
        return json(res, 200, { access_token: access, id_token: id, token_type: 'Bearer', expires_in: 600 });
      });
      return undefined;
    }
    return json(res, 404, { error: 'not_found' });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${server.address().port}`;
  return { issuer, seen, stop: () => new Promise((r) => server.close(r)) };
}
