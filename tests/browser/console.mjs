// Whole-system browser test of the web console every node serves (issue: web console).
// Started by tests/tests/web_console.rs with a running cluster:
//   CHAT_NODES  [{id, public}]      the nodes' public base URLs
//   CHAT_A_NODE, CHAT_B_NODE        where user A's and user B's browsers open the console
//   CHAT_SCREENS                    directory for the screenshots (docs/screens)
// It prints `KILL <id>` when A's node should die and waits for `KILLED` on stdin.
// Headless Debian chromium through playwright-core; any failed expectation exits 1.

import { url, log, ask, closeInput, launch, newPage, register, shot } from './lib.mjs';

const aNode = process.env.CHAT_A_NODE;
const bNode = process.env.CHAT_B_NODE;
const suffix = Date.now().toString(36);
const alice = { name: `Alice${suffix}`, email: `alice-${suffix}@example.com`, password: 'secret-alice' };
const bob = { name: `Bob${suffix}`, email: `bob-${suffix}@example.com`, password: 'secret-bob' };
const browser = await launch();

const message = (page, text) => page.getByTestId('message-container').filter({ hasText: text });

try {
  const a = await newPage(browser);
  const b = await newPage(browser);

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
  await ask(`KILL ${aNode}`, 'KILLED');
  await a.getByTestId('chat-message-input').fill('노드가 죽어도 계속');
  await a.getByTestId('chat-send-button').click();
  await message(b, '노드가 죽어도 계속').waitFor({ timeout: 30_000 });
  await b.getByTestId('chat-message-input').fill('잘 들려요');
  await b.getByTestId('chat-send-button').click();
  await message(a, '잘 들려요').waitFor({ timeout: 30_000 });
  if (!a.url().endsWith(roomPath)) throw new Error(`A left the room: ${a.url()}`);
  log('chat survived the death of node', aNode, '; A now on', await a.getByTestId('connection-status').textContent());

  // Duplicate login: B logs in again elsewhere; the first page gets the notice, then the end.
  const b2 = await newPage(browser);
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

  console.log('RESULT ok');
} catch (e) {
  console.error('[browser] FAILED:', e);
  process.exitCode = 1;
} finally {
  await browser.close();
  closeInput();
}
