// What the browser tests share: the headless Debian chromium, a fresh page, the stdin
// handshake with the Rust side (`KILL <id>` ... `KILLED`), registration through the UI.

import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

export const T = 20_000;
export const nodes = JSON.parse(process.env.CHAT_NODES);
export const url = (id) => nodes.find((n) => String(n.id) === String(id)).public;
export const screens = process.env.CHAT_SCREENS;
export const log = (...a) => console.log('[browser]', ...a);

const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();

/** Print `request` for the Rust side and wait for its `answer` line. */
export async function ask(request, answer) {
  console.log(request);
  const got = await lines.next();
  if (got.value !== answer) throw new Error(`expected ${answer}, got ${got.value}`);
}

export function closeInput() { stdin.close(); }

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // Playwright gives every launch a fresh temporary profile (--user-data-dir) itself.
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run'],
    headless: true,
  });
}

export async function newPage(browser) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 }, locale: 'ko-KR' });
  const page = await context.newPage();
  page.setDefaultTimeout(T);
  page.on('pageerror', (e) => { console.error('[page error]', e); process.exitCode = 1; });
  return page;
}

export async function register(page, base, user) {
  await page.goto(`${base}/register`);
  await page.getByTestId('register-name-input').fill(user.name);
  await page.getByTestId('register-email-input').fill(user.email);
  await page.getByTestId('register-password-input').fill(user.password);
  await page.getByTestId('register-password-confirm-input').fill(user.password);
  await page.getByTestId('register-submit-button').click();
  await page.waitForURL(/\/chat$/);
}

export const shot = (page, name) => page.screenshot({ path: join(screens, `${name}.png`), fullPage: true });
