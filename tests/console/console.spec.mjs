// The console as its users use it, in Chromium, against the real binary with a demo year:
// a supervisor audits a figure down to a verified case history; a grid worker files a hazard with
// a photo from a phone; a handler takes it to 销号 through the generated forms and sees a refusal
// in the API's words; a second browser sees the new case arrive live; a grid worker's dashboard
// stays within her grids; the pages pass an accessibility check; and no request leaves 127.0.0.1.

import { devices } from '@playwright/test';
import { PHOTO, SHOTS, accessible, expect, report, test, watch } from './fixtures.mjs';

async function tokenFor(request, role) {
  const response = await request.post(`${process.env.DOCKET_URL}/console/demo-token`, { data: { role } });
  expect(response.ok()).toBeTruthy();
  return (await response.json()).token;
}

async function get(request, token, path) {
  const response = await request.get(`${process.env.DOCKET_URL}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  expect(response.ok(), `${path}: ${response.status()}`).toBeTruthy();
  return response.json();
}

// Every case of a list query, following its cursor.
async function allCases(request, token, path) {
  const ids = [];
  let cursor = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(request, token, `${path}${sep}limit=200${cursor ? `&cursor=${cursor}` : ''}`);
    ids.push(...page.items.map((c) => c.id));
    cursor = page.next_cursor;
  } while (cursor);
  return ids;
}

// Every case of the list the page shows, loading its pages one by one as an official would.
async function showAll(page) {
  await expect(page.locator('[data-shown]')).toBeVisible();
  while (await page.locator('button.more').count()) {
    const before = Number(await page.locator('[data-shown]').textContent());
    await page.locator('button.more').click();
    await expect(page.locator('[data-shown]')).not.toHaveText(String(before));
  }
  return page.locator('tr[data-case-id]').evaluateAll((rows) => rows.map((r) => r.dataset.caseId));
}

async function signIn(page, role) {
  await page.goto('/');
  await page.locator(`[data-role="${role}"]`).click();
  await expect(page.locator('[data-live="true"]')).toBeVisible();
}

// The range the dashboard shows (by default this year and the last, to the browser's today).
async function shownRange(page) {
  const from = await page.locator('#dash-from').inputValue();
  const to = await page.locator('#dash-to').inputValue();
  expect(from).toMatch(/^\d{4}-01-01$/);
  return `from=${from}&to=${to}`;
}

function shownRate(figure) {
  return `${(figure.value * 100).toFixed(1)}%`;
}

test('a supervisor follows the closure rate to its cases and verifies one case\'s chain', async ({ page, request }) => {
  await page.goto('/');
  await page.locator('[data-role="supervisor"]').click();
  await expect(page).toHaveURL(/#\/dashboard/);
  const card = page.locator('[data-figure="closure_rate"]');
  await expect(card).toBeVisible();
  const paint = await page.evaluate(() => ({ ...document.body.dataset }));
  report(`dashboard first paint, demo year: ${paint.dashboardFirstPaint} ms from opening the dashboard, ${paint.pageFirstPaint} ms from opening the page (sign-in included)`);

  const token = await tokenFor(request, 'supervisor');
  const stats = await get(request, token, `/v1/stats?${await shownRange(page)}`);
  const closure = stats.groups[0].figures.find((f) => f.name === 'closure_rate');
  expect(closure.denominator).toBeGreaterThan(0);
  await expect(card.locator('.figure-value')).toHaveText(shownRate(closure));
  await expect(card.locator('.ratio')).toHaveText(`${closure.numerator} / ${closure.denominator}`);
  await page.waitForSelector('.chart svg');
  await accessible(page, 'dashboard');
  await page.screenshot({ path: `${SHOTS}/dashboard.png`, fullPage: false });

  // The rate's number links to exactly the cases it counts.
  await card.locator('a.figure-value').click();
  await expect(page).toHaveURL(/#\/cases\?/);
  const shown = await showAll(page);
  const counted = await allCases(request, token, closure.cases);
  expect(shown.length).toBe(closure.numerator);
  expect(new Set(shown)).toEqual(new Set(counted));
  await accessible(page, 'case list');

  // One of them: its history, every commit, and its chain checked in the browser.
  const caseId = shown[0];
  await page.locator(`tr[data-case-id="${caseId}"] a`).click();
  const history = await get(request, token, `/v1/cases/${caseId}/history`);
  await expect(page.locator('table.history tbody tr')).toHaveCount(history.commits.length);
  for (const c of history.commits) {
    await expect(page.locator(`tr[data-version="${c.version}"] code`)).toHaveText(c.hash.slice(0, 12));
  }
  await page.locator('[data-verify]').click();
  await expect(page.locator('[data-verified]')).toHaveAttribute('data-verified', 'true');
  await accessible(page, 'case page');
  await page.screenshot({ path: `${SHOTS}/case.png`, fullPage: true });

  // A chain that does not hold is caught: the same page, served one altered commit.
  await page.route(`**/v1/cases/${caseId}/commits`, async (route) => {
    const response = await route.fetch();
    const body = await response.json();
    body.commits[0].commit.recorded_at = '2000-01-01T00:00:00Z';
    await route.fulfill({ response, json: body });
  });
  await page.locator('[data-verify]').click();
  await expect(page.locator('[data-verified]')).toHaveAttribute('data-verified', 'false');
  await expect(page.locator('[data-verified]')).toHaveText('链校验失败：第 1 条，hash does not match the content');
});

test('a grid worker files a hazard with a photo from a phone; a handler takes it to 销号 while another browser watches', async ({ browser, request }) => {
  // The handler's worklist is open in another browser before the hazard is filed.
  const watcher = watch(await browser.newContext({ baseURL: process.env.DOCKET_URL, locale: 'zh-CN' }));
  const handler = await watcher.newPage();
  await signIn(handler, 'handler');
  await handler.goto('/#/cases?worklist=my-unit');
  await expect(handler.locator('[data-shown]')).toBeVisible();

  const phone = watch(await browser.newContext({ ...devices['Pixel 7'], baseURL: process.env.DOCKET_URL, locale: 'zh-CN',
    permissions: ['geolocation'], geolocation: { latitude: 39.9042, longitude: 116.4074 } }));
  const worker = await phone.newPage();
  await signIn(worker, 'grid_worker');
  await worker.goto('/#/file/hazard');
  await accessible(worker, 'filing');
  const title = `楼道堆放杂物 ${Date.now()}`;
  await worker.getByLabel('社区').selectOption('qinghe');
  await worker.getByLabel('网格').selectOption('demo-01');
  await worker.getByLabel('单位').selectOption('demo-safety');
  await worker.getByLabel('标题').fill(title);
  await worker.getByLabel('事项分类').selectOption({ index: 1 });
  await worker.getByLabel('隐患等级').selectOption('general');
  await worker.getByLabel('来源').selectOption({ index: 1 });
  await worker.getByRole('button', { name: '使用当前位置' }).click();
  await expect(worker.getByLabel('纬度')).toHaveValue('39.9042');
  await worker.getByLabel('证据照片').setInputFiles({ name: 'photo.jpg', mimeType: 'image/jpeg', buffer: PHOTO });
  await expect(worker.locator('.evidence-list li')).toHaveCount(1);
  await worker.getByRole('button', { name: '登记', exact: true }).last().click();
  await expect(worker).toHaveURL(/#\/case\//);
  const caseId = worker.url().split('#/case/')[1];
  await expect(worker.locator('[data-status]')).toHaveText('已上报');
  await expect(worker.locator('.photo img')).toBeVisible();

  // The other browser saw it arrive, without reloading.
  const row = handler.locator(`tr[data-case-id="${caseId}"]`);
  await expect(row).toBeVisible();
  await row.locator('a').click();

  // A refused action shows the API's reason, and changes nothing.
  const token = await tokenFor(request, 'handler');
  await handler.locator('[data-action="dismiss"]').click();
  await handler.getByLabel('原因').selectOption('duplicate');
  await handler.locator('[data-action-form] button[type="submit"]').click();
  const problem = handler.locator('[data-action-form] .problem-detail');
  await expect(problem).toBeVisible();
  const refused = await request.post(`${process.env.DOCKET_URL}/v1/cases/${caseId}/actions/dismiss`, {
    headers: { Authorization: `Bearer ${token}` }, data: { reason: 'duplicate' } });
  expect(refused.status()).toBe(422);
  await expect(problem).toHaveText((await refused.json()).detail);
  expect((await get(request, token, `/v1/cases/${caseId}`)).version).toBe(1);

  // Verify, order rectification, report it rectified with a photo, pass the reinspection: 销号.
  await handler.locator('[data-action="verify"]').click();
  await accessible(handler, 'an action form');
  await handler.getByLabel('隐患等级').selectOption('general');
  await handler.getByLabel('责任方').fill('3 单元 502 住户');
  await handler.locator('[data-action-form] button[type="submit"]').click();
  await expect(handler.locator('[data-status]')).toHaveText('已核实');
  await handler.locator('[data-action="order-rectification"]').click();
  await handler.getByLabel('整改措施').fill('清理楼道杂物');
  await handler.locator('[data-action-form] button[type="submit"]').click();
  await expect(handler.locator('[data-status]')).toHaveText('整改中');
  await handler.locator('[data-action="report-rectified"]').click();
  await handler.locator('[data-action-form]').getByLabel('证据照片').setInputFiles({ name: 'after.jpg', mimeType: 'image/jpeg', buffer: PHOTO });
  await expect(handler.locator('.evidence-list li')).toHaveCount(1);
  await handler.locator('[data-action-form] button[type="submit"]').click();
  await expect(handler.locator('[data-status]')).toHaveText('已整改');
  await handler.locator('[data-action="pass-reinspection"]').click();
  await handler.getByLabel('备注').fill('复查合格');
  await handler.locator('[data-action-form] button[type="submit"]').click();
  await expect(handler.locator('[data-status]')).toHaveText('已办结');

  const detail = await get(request, token, `/v1/cases/${caseId}`);
  expect(detail.status).toBe('closed');
  expect(detail.version).toBe(5);
  const history = await get(request, token, `/v1/cases/${caseId}/history`);
  const reported = history.commits[0].events[0].data;
  expect(reported.evidence[0].content_hash).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(reported.location).toEqual({ latitude: 39.9042, longitude: 116.4074 });
  await handler.locator('[data-verify]').click();
  await expect(handler.locator('[data-verified]')).toHaveAttribute('data-verified', 'true');
  await watcher.close();
  await phone.close();
});

test('a dispute is filed with a photo, which the case records by its hash', async ({ page, request }) => {
  await page.setViewportSize({ width: 412, height: 915 });
  await signIn(page, 'grid_worker');
  await page.goto('/#/file/dispute');
  await page.getByLabel('证据照片').setInputFiles({ name: 'letter.jpg', mimeType: 'image/jpeg', buffer: PHOTO });
  await expect(page.locator('.evidence-list li')).toHaveCount(1);
  await page.getByLabel('社区').selectOption('qinghe');
  await page.getByLabel('网格').selectOption('demo-01');
  await page.getByLabel('标题').fill('楼上漏水');
  await page.getByLabel('纠纷类型').selectOption({ index: 1 });
  await page.getByLabel('来源').selectOption('grid-worker');
  // Both sides, or the API says a dispute needs them.
  await page.getByRole('button', { name: '添加 当事人' }).click();
  await page.getByRole('button', { name: '添加 当事人' }).click();
  await page.getByLabel('方').nth(0).selectOption('applicant');
  await page.getByLabel('姓名').nth(0).fill('欧阳秀英');
  await page.getByLabel('方').nth(1).selectOption('respondent');
  await page.getByLabel('姓名').nth(1).fill('上官建国');
  await accessible(page, 'filing a dispute');
  await page.getByRole('button', { name: '登记', exact: true }).last().click();
  await expect(page).toHaveURL(/#\/case\//);
  const caseId = page.url().split('#/case/')[1];
  await expect(page.locator('.photo img')).toBeVisible();
  const history = await get(request, await tokenFor(request, 'supervisor'), `/v1/cases/${caseId}/history`);
  expect(history.commits.map((c) => c.command)).toEqual(['register', 'attach-evidence']);
  expect(history.commits[1].events[0].data.evidence[0].content_hash).toMatch(/^sha256:[0-9a-f]{64}$/);
});

test('a grid worker\'s dashboard shows only her grids', async ({ page, request }) => {
  await signIn(page, 'grid_worker');
  await page.goto(`/#/dashboard?by=grid`);
  const token = await tokenFor(request, 'grid_worker');
  await expect(page.locator('[data-figure="opened"]')).toBeVisible();
  const range = await shownRange(page);
  const mine = await get(request, token, `/v1/stats?${range}`);
  const opened = mine.groups[0].figures.find((f) => f.name === 'opened');
  await expect(page.locator('[data-figure="opened"] .figure-value')).toHaveText(String(opened.value));
  const everyone = await get(request, await tokenFor(request, 'supervisor'), `/v1/stats?${range}`);
  expect(everyone.groups[0].figures.find((f) => f.name === 'opened').value).toBeGreaterThan(opened.value);
  // The breakdown by grid lists her two grids and no other.
  const grids = page.locator('table.figures-table:not(.all-figures) tbody th');
  await expect(grids.first()).toBeVisible();
  const names = await grids.allTextContents();
  const directory = await get(request, token, '/v1/directory');
  const hers = directory.grids.filter((g) => ['demo-01', 'demo-02'].includes(g.id)).map((g) => g.name);
  expect(names.length).toBeGreaterThan(0);
  for (const name of names) expect(hers).toContain(name);
  // Following a figure shows her cases only.
  await page.locator('[data-figure="opened"] a.figure-value').click();
  const shown = await showAll(page);
  expect(shown.length).toBe(opened.value);
  for (const id of shown) {
    const c = await get(request, token, `/v1/cases/${id}`);
    expect(['demo-01', 'demo-02']).toContain(c.case.grid);
  }
});

test('the console speaks English on the switch, and a worklist filters and searches', async ({ page }) => {
  await page.goto('/');
  await accessible(page, 'sign-in');
  await signIn(page, 'handler');
  await page.goto('/#/cases?worklist=my-unit');
  await expect(page.locator('[data-shown]')).toBeVisible();
  await accessible(page, 'worklist');
  await page.getByRole('button', { name: 'English' }).click();
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  await expect(page.getByRole('link', { name: 'Dashboard' })).toBeVisible();
  await page.getByLabel('Kind').selectOption('hazard');
  await expect(page).toHaveURL(/kind=hazard/);
  const kinds = await page.locator('tr[data-case-id] td:nth-child(3)').allTextContents();
  expect(kinds.length).toBeGreaterThan(0);
  for (const k of kinds) expect(k).toBe('Hazard');
  await page.getByRole('button', { name: '中文' }).click();
  await expect(page.locator('html')).toHaveAttribute('lang', 'zh-CN');
});
