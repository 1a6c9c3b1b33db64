// Signing in through an identity provider: the console runs OpenID Connect's authorization-code
// flow with PKCE against the provider its server names, and keeps the tokens in memory only.

import { expect, test } from './fixtures.mjs';
import { freePort, startDocket } from './server.mjs';
import { startIdp } from './idp.mjs';

test('an official signs in through the identity provider with PKCE; the token stays in memory', async ({ page }) => {
  const idp = await startIdp({ clientId: 'docket-console', claims: { sub: 'wang.li', tenant: 'oidc-office', role: 'supervisor' } });
  const port = await freePort();
  const docket = await startDocket({
    port,
    args: ['--jwks', `${idp.issuer}/jwks`, '--jwt-issuer', idp.issuer,
      '--oidc-client-id', 'docket-console', '--oidc-redirect-url', `http://127.0.0.1:${port}/`],
  });
  try {
    await page.goto(`${docket.url}/#/dashboard`);
    // No demo roles where an identity provider issues the tokens.
    await expect(page.locator('[data-role]')).toHaveCount(0);
    await page.getByRole('button', { name: '统一身份认证登录' }).click();
    await expect(page.locator('[data-live="true"]')).toBeVisible();
    await expect(page.locator('header')).toContainText('督查人员');
    // Back where the sign-in began, the code gone from the address.
    await expect(page).toHaveURL(`${docket.url}/#/dashboard`);
    await expect(page.locator('[data-figure="opened"] .figure-value')).toHaveText('0');

    const [authorize] = idp.seen.authorize;
    expect(authorize.code_challenge_method).toBe('S256');
    expect(authorize.redirect_uri).toBe(`http://127.0.0.1:${port}/`);
    expect(idp.seen.token).toHaveLength(1);
    expect(idp.seen.token[0].code_verifier).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }));
    expect(stored).not.toMatch(/eyJ/);

    // A reload forgets the token: signed out, as nothing was kept.
    await page.reload();
    await expect(page.getByRole('button', { name: '统一身份认证登录' })).toBeVisible();

    // A code that comes back to a sign-in this browser did not start is refused.
    await page.goto(`${docket.url}/?code=stolen&state=forged`);
    await expect(page.getByRole('alert')).toContainText('state does not match');
    await expect(page.locator('[data-live]')).toHaveCount(0);
    expect(idp.seen.token).toHaveLength(1);
  } finally {
    await docket.stop();
    await idp.stop();
  }
});
