// What every browser test shares: the request watch that holds every page to 127.0.0.1, the
// accessibility check, and the report the make target prints.

import { test as base, expect } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const REPORT = process.env.DOCKET_CONSOLE_REPORT || resolve(here, '../../target/console-report.txt');
export const SHOTS = process.env.DOCKET_SCREENSHOTS_DIR || resolve(here, '../../target/console-screenshots');
// A real JPEG (1×1, grey), as a phone's camera would hand one over.
export const PHOTO = Buffer.from(
  '/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPxA=',
  'base64',
);

export function report(line) {
  mkdirSync(dirname(REPORT), { recursive: true });
  appendFileSync(REPORT, `${line}\n`);
}

// Every request a page of the test makes, from every browser context it opens.
const requests = [];
export function watch(context) {
  context.on('request', (r) => requests.push(r.url()));
  return context;
}

export const test = base.extend({
  context: async ({ context }, use) => {
    await use(watch(context));
  },
  baseURL: async ({}, use) => use(process.env.DOCKET_URL),
  // Every test, in every spec: the pages it opened asked 127.0.0.1 and nothing else.
  onlyLoopback: [async ({}, use) => {
    requests.length = 0;
    await use();
    const away = requests.filter((u) => {
      const { protocol, hostname } = new URL(u);
      return !['data:', 'blob:'].includes(protocol) && hostname !== '127.0.0.1';
    });
    expect(requests.length, 'the test watched its pages\' requests').toBeGreaterThan(0);
    expect(away, 'requests that left 127.0.0.1').toEqual([]);
  }, { auto: true }],
});

export { expect };

export async function accessible(page, what) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const serious = results.violations.filter((v) => ['serious', 'critical'].includes(v.impact));
  expect(serious.map((v) => `${what}: ${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join('; ')}`)).toEqual([]);
}

