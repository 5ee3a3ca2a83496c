// Browser test of `/cluster` (tests/tests/web_console.rs): the dashboard is served to
// anyone but shows data only to an admin; an admin sees every node, transfers leadership
// to a chosen voter (with the confirmation) and sees it lead, and after the leader is
// killed sees the new leader within 2 s. Screenshot of the dashboard.
//   CHAT_NODES, CHAT_SCREENS  as in console.mjs
//   CHAT_VIEW_NODE            the node whose console the admin opens (not the leader)
// Asks the Rust side `ADMIN <email>` (make that user an admin) and `KILL <id>`.

import { url, log, ask, closeInput, launch, newPage, register, shot, nodes } from './lib.mjs';

const view = url(process.env.CHAT_VIEW_NODE);
const suffix = Date.now().toString(36);
const admin = { name: `Admin${suffix}`, email: `admin-${suffix}@example.com`, password: 'secret-admin' };
const browser = await launch();

try {
  const page = await newPage(browser);
  await page.goto(`${view}/cluster`);
  await page.getByTestId('cluster-login-required').waitFor();
  await register(page, view, admin);
  await page.goto(`${view}/cluster`);
  await page.getByTestId('cluster-error').filter({ hasText: '관리자만' }).waitFor();
  log('a non-admin gets no cluster data');

  await ask(`ADMIN ${admin.email}`, 'ADMIN_OK');
  await page.reload();
  const rows = page.getByTestId('cluster-node-row');
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="cluster-node-row"]').length === n, nodes.length);
  const leaderEl = page.getByTestId('cluster-leader');
  await page.waitForFunction(() => document.querySelector('[data-testid="cluster-leader"]').dataset.leaderId);
  const firstLeader = await leaderEl.getAttribute('data-leader-id');
  if ((await rows.count()) !== nodes.length) throw new Error('not every node is listed');
  log('dashboard lists', nodes.length, 'nodes; leader', firstLeader);

  // Transfer leadership to the voter that neither leads nor serves this page.
  const chosen = nodes.map((n) => String(n.id)).find((id) => id !== firstLeader && id !== String(process.env.CHAT_VIEW_NODE));
  await page.locator(`[data-testid="transfer-target-select"] option[value="${chosen}"]`).waitFor({ state: 'attached' });
  await page.getByTestId('transfer-target-select').selectOption(chosen);
  await page.getByTestId('transfer-leadership-button').click();
  await page.getByTestId('confirm-dialog').filter({ hasText: `노드 ${chosen}` }).waitFor();
  await page.getByTestId('confirm-ok-button').click();
  await page.waitForFunction((id) => document.querySelector('[data-testid="cluster-leader"]').dataset.leaderId === id, chosen);
  await page.getByTestId('operator-action-result').filter({ hasText: `노드 ${chosen}` }).waitFor();
  await page.getByTestId('leader-change').filter({ hasText: `노드 ${chosen}` }).waitFor();
  log('leadership transferred from', firstLeader, 'to', chosen);
  const oldLeader = chosen;
  await page.waitForTimeout(1500); // a few samples for the chart before the fault
  await ask(`KILL ${oldLeader}`, 'KILLED');
  const killedAt = Date.now();
  await page.waitForFunction((old) => {
    const id = document.querySelector('[data-testid="cluster-leader"]').dataset.leaderId;
    return id && id !== old;
  }, oldLeader, { timeout: 10_000, polling: 50 });
  const shownAfter = Date.now() - killedAt;
  const newLeader = await leaderEl.getAttribute('data-leader-id');
  log(`new leader ${newLeader} shown ${shownAfter} ms after the kill`);
  if (shownAfter > 2000) throw new Error(`the new leader took ${shownAfter} ms to show (limit 2000)`);
  await page.locator(`[data-testid="cluster-node-row"][data-node-id="${oldLeader}"][data-state="unreachable"]`).waitFor();
  await page.waitForTimeout(1000);
  await shot(page, 'cluster');
  console.log(`RESULT ok ${shownAfter}`);
} catch (e) {
  console.error('[browser] FAILED:', e);
  process.exitCode = 1;
} finally {
  await browser.close();
  closeInput();
}
