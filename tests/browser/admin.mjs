// Browser test of moderation and draining from the console (tests/tests/web_console.rs):
// a user chats on node U while an admin, on node A, sees them online in the room; the admin
// drains U's node from /cluster and the user's page moves to another node and keeps
// chatting; then the admin bans the user from /admin (reason, duration, confirmation):
// the user's open page shows the session-ended notice at once and is logged out, and the
// audit list shows the ban. Screenshot of the admin page.
//   CHAT_NODES, CHAT_SCREENS  as in console.mjs
//   CHAT_ADMIN_NODE           where the admin's browser opens the console
//   CHAT_USER_NODE            where the user's browser opens it (drained, then banned)
// Asks the Rust side `ADMIN <email>` (make that user an admin).

import { url, log, ask, closeInput, launch, newPage, register, shot, T } from './lib.mjs';

const adminNode = process.env.CHAT_ADMIN_NODE;
const userNode = process.env.CHAT_USER_NODE;
const suffix = Date.now().toString(36);
const admin = { name: `Admin${suffix}`, email: `admin-${suffix}@example.com`, password: 'secret-admin' };
const user = { name: `Mallory${suffix}`, email: `mallory-${suffix}@example.com`, password: 'secret-mallory' };
const browser = await launch();

const message = (page, text) => page.getByTestId('message-container').filter({ hasText: text });
const participant = (page, who, online) =>
  page.locator(`[data-testid="participant"][data-online="${online}"]`).filter({ hasText: who.name });

async function send(page, text) {
  await page.getByTestId('chat-message-input').fill(text);
  await page.getByTestId('chat-send-button').click();
}

try {
  const a = await newPage(browser);
  const u = await newPage(browser);
  await register(a, url(adminNode), admin);
  await ask(`ADMIN ${admin.email}`, 'ADMIN_OK');
  await register(u, url(userNode), user);

  // The user creates a room; the admin opens it: each sees the other online.
  await u.goto(`${url(userNode)}/chat/new`);
  await u.getByTestId('chat-room-name-input').fill(`관리 테스트 ${suffix}`);
  await u.getByTestId('create-chat-room-button').click();
  await u.waitForURL(/\/chat\/[0-9a-f]{24}$/);
  const roomPath = new URL(u.url()).pathname;
  await a.goto(`${url(adminNode)}${roomPath}`);
  await a.getByTestId('message-history-end').waitFor();
  await participant(a, user, true).waitFor();
  await participant(u, admin, true).waitFor();
  log('both online in', roomPath);
  await send(u, '드레인 전 메시지');
  await message(a, '드레인 전 메시지').waitFor();

  // The admin drains the user's node from the dashboard (a second tab, same session).
  const ops = await a.context().newPage();
  ops.setDefaultTimeout(T);
  ops.on('pageerror', (e) => { console.error('[page error]', e); process.exitCode = 1; });
  await ops.goto(`${url(adminNode)}/cluster`);
  await ops.locator(`[data-testid="cluster-node-row"][data-node-id="${userNode}"]`).waitFor();
  await ops.getByTestId('drain-node-select').selectOption(String(userNode));
  await ops.getByTestId('drain-node-button').click();
  await ops.getByTestId('confirm-dialog').waitFor();
  await ops.getByTestId('confirm-ok-button').click();
  await ops.locator(`[data-testid="cluster-node-row"][data-node-id="${userNode}"][data-draining="true"]`).waitFor();
  await u.getByTestId('server-draining-notice').waitFor();
  const userHost = new URL(url(userNode)).host;
  await u.waitForFunction((host) => {
    const status = document.querySelector('[data-testid="connection-status"]');
    return status && status.textContent.startsWith('연결됨') && !status.textContent.includes(host);
  }, userHost);
  log('drained node', userNode, '; the user moved to', await u.getByTestId('connection-status').textContent());
  await send(u, '드레인 후 메시지');
  await message(a, '드레인 후 메시지').waitFor();
  await participant(a, user, true).waitFor();
  await ops.getByTestId('undrain-node-button').click();
  await ops.getByTestId('confirm-ok-button').click();
  await ops.locator(`[data-testid="cluster-node-row"][data-node-id="${userNode}"][data-draining="false"]`).waitFor();
  log('drain ended');

  // The ban: search, reason and duration, confirmation.
  await ops.goto(`${url(adminNode)}/admin`);
  await ops.getByTestId('admin-user-search-input').fill(user.email);
  const row = ops.locator(`[data-testid="admin-user-row"][data-email="${user.email}"]`);
  await row.waitFor();
  await row.getByTestId('admin-ban-button').click();
  await ops.getByTestId('admin-reason-input').fill('스팸 발송');
  await ops.getByTestId('admin-minutes-input').fill('60');
  await ops.getByTestId('admin-reason-submit').click();
  await ops.getByTestId('confirm-dialog').filter({ hasText: user.name }).waitFor();
  await ops.getByTestId('confirm-ok-button').click();
  const bannedAt = Date.now();
  await u.getByTestId('session-ended-notice').waitFor();
  const shownAfter = Date.now() - bannedAt;
  log(`session-ended notice shown ${shownAfter} ms after the confirmation`);
  await u.getByTestId('login-email-input').waitFor();
  if (await u.evaluate(() => localStorage.getItem('chat.session')) !== null) throw new Error('the banned page kept its session');
  if (await u.getByTestId('logout-link').count()) throw new Error('the banned page still looks logged in');
  await u.goto(`${url(userNode)}/chat`);
  await u.waitForURL(/\/login$/);

  // The admin page: the user is banned, and the audit list shows it.
  await ops.locator(`[data-testid="admin-user-row"][data-email="${user.email}"][data-banned="true"]`).waitFor();
  await ops.locator('[data-testid="admin-audit-row"][data-action="ban"]').filter({ hasText: user.email }).filter({ hasText: '스팸 발송' }).waitFor();
  log('ban audited');
  await ops.getByTestId('admin-user-search-input').fill('');
  await ops.locator('[data-testid="admin-user-row"]').nth(1).waitFor();
  await shot(ops, 'admin');

  // Banned users cannot log in again.
  await u.getByTestId('login-email-input').fill(user.email);
  await u.getByTestId('login-password-input').fill(user.password);
  await u.getByTestId('login-submit-button').click();
  await u.getByTestId('login-error-message').waitFor();
  console.log(`RESULT ok ${shownAfter}`);
} catch (e) {
  console.error('[browser] FAILED:', e);
  process.exitCode = 1;
} finally {
  await browser.close();
  closeInput();
}
