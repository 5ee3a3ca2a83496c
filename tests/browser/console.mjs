// Whole-system browser test of the web console every node serves (issue: web console).
// Started by tests/tests/web_console.rs with a running cluster:
//   CHAT_NODES  [{id, public}]      the nodes' public base URLs
//   CHAT_A_NODE, CHAT_B_NODE        where user A's and user B's browsers open the console
//   CHAT_SCREENS                    directory for the screenshots (docs/screens)
// It prints `KILL <id>` when A's node should die and waits for `KILLED` on stdin.
// Headless Debian chromium through playwright-core; any failed expectation exits 1.

import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const nodes = JSON.parse(process.env.CHAT_NODES);
const url = (id) => nodes.find((n) => String(n.id) === String(id)).public;
const aNode = process.env.CHAT_A_NODE;
const bNode = process.env.CHAT_B_NODE;
const screens = process.env.CHAT_SCREENS;
const T = 20_000;
const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();

const log = (...a) => console.log('[browser]', ...a);
const suffix = Date.now().toString(36);
const alice = { name: `Alice${suffix}`, email: `alice-${suffix}@example.com`, password: 'secret-alice' };
const bob = { name: `Bob${suffix}`, email: `bob-${suffix}@example.com`, password: 'secret-bob' };

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', `--user-data-dir=${mkdtempSync(join(tmpdir(), 'chat-chromium-'))}`],
  headless: true,
});

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 }, locale: 'ko-KR' });
  const page = await context.newPage();
  page.setDefaultTimeout(T);
  page.on('pageerror', (e) => { console.error('[page error]', e); process.exitCode = 1; });
  return page;
}

async function register(page, base, user) {
  await page.goto(`${base}/register`);
  await page.getByTestId('register-name-input').fill(user.name);
  await page.getByTestId('register-email-input').fill(user.email);
  await page.getByTestId('register-password-input').fill(user.password);
  await page.getByTestId('register-password-confirm-input').fill(user.password);
  await page.getByTestId('register-submit-button').click();
  await page.waitForURL(/\/chat$/);
}

const message = (page, text) => page.getByTestId('message-container').filter({ hasText: text });
const shot = (page, name) => page.screenshot({ path: join(screens, `${name}.png`) });

try {
  const a = await newPage();
  const b = await newPage();

  // Both register (on two different nodes); the start page offers login to a newcomer.
  await a.goto(`${url(aNode)}/`);
  await a.getByTestId('login-email-input').waitFor();
  await register(a, url(aNode), alice);
  await register(b, url(bNode), bob);
  log('registered on nodes', aNode, bNode);

  // A creates a room; B finds it in the list and joins.
  const roomName = `브라우저 테스트 ${suffix}`;
  await a.goto(`${url(aNode)}/chat/new`);
  await a.getByTestId('chat-room-name-input').fill(roomName);
  await a.getByTestId('create-chat-room-button').click();
  await a.waitForURL(/\/chat\/[0-9a-f]{24}$/);
  const roomPath = new URL(a.url()).pathname;
  await message(a, `${alice.name}님이 입장하였습니다.`).waitFor();
  await b.getByTestId('chat-room-search-input').fill(suffix);
  await b.locator('li', { hasText: roomName }).getByTestId('join-chat-room-button').click();
  await b.waitForURL(new RegExp(`${roomPath}$`));
  await b.getByTestId('message-history-end').waitFor();
  log('both in', roomPath);

  // Text both ways; B's read reaches A as "all read".
  await a.getByTestId('chat-message-input').fill('안녕하세요, 밥!');
  await a.getByTestId('chat-send-button').click();
  await message(b, '안녕하세요, 밥!').waitFor();
  await message(a, '안녕하세요, 밥!').getByTestId('read-status-all-read').waitFor();
  log('text delivered and read');

  // A reaction from B shows up at A.
  await message(b, '안녕하세요, 밥!').getByTestId('message-reaction-button').click();
  await message(b, '안녕하세요, 밥!').getByTestId('emoji-picker-container').getByRole('button', { name: '👍', exact: true }).click();
  await message(a, '안녕하세요, 밥!').getByTestId('message-reaction').filter({ hasText: '👍 1' }).waitFor();
  log('reaction seen');

  // B mentions A: A gets the notification.
  await b.getByTestId('chat-message-input').fill(`@${alice.name} 잘 지내요?`);
  await b.getByTestId('chat-send-button').click();
  await a.getByTestId('mention-notification').filter({ hasText: bob.name }).waitFor();
  log('mention notified');

  // An image from A: B sees its preview, loaded from B's node.
  const png = await a.screenshot({ clip: { x: 0, y: 0, width: 64, height: 48 } });
  await a.getByTestId('file-upload-input').setInputFiles({ name: 'screen.png', mimeType: 'image/png', buffer: png });
  const preview = b.getByTestId('file-message-container').filter({ hasText: 'screen.png' }).getByTestId('file-image-preview');
  await preview.waitFor();
  await b.waitForFunction((img) => img.complete && img.naturalWidth === 64, await preview.elementHandle());
  await b.getByTestId('file-message-container').filter({ hasText: /screen\.png \((\d+ B|\d+\.\d KB)\)/ }).waitFor();
  log('image delivered');
  await shot(b, 'chat-room');

  // Kill A's node: both keep chatting, nobody logs in again.
  console.log(`KILL ${aNode}`);
  const answer = await lines.next();
  if (answer.value !== 'KILLED') throw new Error(`expected KILLED, got ${answer.value}`);
  await a.getByTestId('chat-message-input').fill('노드가 죽어도 계속');
  await a.getByTestId('chat-send-button').click();
  await message(b, '노드가 죽어도 계속').waitFor({ timeout: 30_000 });
  await b.getByTestId('chat-message-input').fill('잘 들려요');
  await b.getByTestId('chat-send-button').click();
  await message(a, '잘 들려요').waitFor({ timeout: 30_000 });
  if (!a.url().endsWith(roomPath)) throw new Error(`A left the room: ${a.url()}`);
  log('chat survived the death of node', aNode, '; A now on', await a.getByTestId('connection-status').textContent());

  // Duplicate login: B logs in again elsewhere; the first page gets the notice, then the end.
  const b2 = await newPage();
  await b2.goto(`${url(bNode)}/login`);
  await b2.getByTestId('login-email-input').fill(bob.email);
  await b2.getByTestId('login-password-input').fill(bob.password);
  await b2.getByTestId('login-submit-button').click();
  await b2.waitForURL(/\/chat$/);
  await b.getByTestId('duplicate-login-notice').waitFor();
  log('duplicate-login notice shown');
  await b.getByTestId('session-ended-notice').waitFor({ timeout: 30_000 });
  await b.getByTestId('login-email-input').waitFor();
  log('first session ended');

  // A failed login says so.
  await b.getByTestId('login-email-input').fill(bob.email);
  await b.getByTestId('login-password-input').fill('wrong-password');
  await b.getByTestId('login-submit-button').click();
  await b.getByTestId('login-error-message').waitFor();

  await b2.goto(`${url(bNode)}/admin`);
  await shot(b2, 'admin');
  await b2.goto(`${url(bNode)}/cluster`);
  await shot(b2, 'cluster');
  console.log('RESULT ok');
} catch (e) {
  console.error('[browser] FAILED:', e);
  process.exitCode = 1;
} finally {
  await browser.close();
  stdin.close();
}
