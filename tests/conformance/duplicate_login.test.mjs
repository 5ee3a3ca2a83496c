// Protocol §2.6 (our variant: pushed at login) and §3.3 logout: a REST login on one node pushes
// duplicate_login at once to every socket of the replaced session on every node, then
// session_ended 10 s later and a server disconnect; the old token is refused everywhere
// as soon as the login answered. Logout ends the user's sockets with reason "logout".

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NODES, EDGE, VOTERS, label } from './lib/cluster.mjs';
import { api, describe, register, login, createRoom } from './lib/rest.mjs';
import { cleanText } from './lib/names.mjs';
import { assertFields } from './lib/expect.mjs';
import { connect, joinRoom, waitFor, waitForEntry, mark, received, sendExpectingError } from './lib/socket.mjs';

const [n1, n2, n3] = [VOTERS[0], VOTERS[1] ?? VOTERS[0], VOTERS[2] ?? VOTERS[0]];
const ENDED_MESSAGE = '다른 기기에서 로그인하여 현재 세션이 종료되었습니다.';

test('logout: session_ended {reason:"logout"} to the user\'s sockets on every node; the token is refused after', async () => {
  const lou = await register(n2, { name: 'Lou' });
  const sockets = [await connect(n2, lou), await connect(EDGE, lou)];

  const missing = await api(n1, 'POST', '/api/auth/logout', { token: lou.token });
  assert.equal(missing.status, 400, describe(missing));
  assertFields(missing.json, { success: false, message: 'x-session-id 헤더가 필요합니다.' });

  const res = await api(n1, 'POST', '/api/auth/logout', { token: lou.token, sessionId: lou.sessionId });
  assert.equal(res.status, 200, describe(res));
  assertFields(res.json, { success: true, message: '로그아웃이 완료되었습니다.' });
  for (const s of sockets) {
    const ended = await waitFor(s, 'session_ended');
    assertFields(ended, { reason: 'logout', message: '로그아웃되었습니다.' }, s.label);
  }
  const after = await api(n3, 'GET', '/api/health', { token: lou.token });
  assert.equal(after.status, 401, describe(after));
  assert.equal(after.text, '');

  // Without a token, logout does nothing and still answers 200.
  const anon = await api(EDGE, 'POST', '/api/auth/logout', { sessionId: 'a'.repeat(32) });
  assert.equal(anon.status, 200, describe(anon));
});

test('duplicate login: duplicate_login at login time on every node, session_ended 10 s later, then a server disconnect', { timeout: 40_000 }, async () => {
  const dora = await register(n1, { name: 'Dora' });
  const room = await createRoom(n1, dora);
  const old = [await connect(n1, dora), await connect(EDGE, dora)];
  await joinRoom(old[0], room._id);
  const since = old.map(mark);

  const fresh = await login(n2, dora, { userAgent: 'conformance-device-B' });
  const answeredAt = Date.now();

  // From the moment the login answered, the replaced token gets 401 (empty) everywhere.
  const checks = await Promise.all(NODES.map((node) => api(node, 'GET', '/api/health', { token: dora.token })));
  for (const [i, res] of checks.entries()) {
    assert.equal(res.status, 401, `old token on ${label(NODES[i])}: ${describe(res)}`);
    assert.equal(res.text, '', 'empty body');
  }
  const newHealth = await api(n3, 'GET', '/api/health', { token: fresh.token });
  assert.equal(newHealth.status, 200, describe(newHealth));

  const notices = [];
  for (const [i, s] of old.entries()) {
    const entry = await waitForEntry(s, 'duplicate_login', 5000, { since: since[i] });
    const n = entry.args[0];
    assert.equal(n.type, 'new_login_attempt', s.label);
    assert.equal(n.deviceInfo, 'conformance-device-B');
    assert.equal(typeof n.ipAddress, 'string');
    assert.equal(typeof n.timestamp, 'number');
    assert.ok(Math.abs(n.timestamp - answeredAt) < 60_000, `timestamp ${n.timestamp}`);
    notices.push(entry);
  }

  // The replaced socket's events now get SESSION_EXPIRED.
  const err = await sendExpectingError(old[0], { room: room._id, type: 'text', content: cleanText('교체된 세션') });
  assertFields(err, { code: 'SESSION_EXPIRED', message: '세션이 만료되었습니다. 다시 로그인해주세요.' });

  // A socket of the new session connects normally and triggers nothing further.
  const current = await connect(n3, fresh);

  for (const [i, s] of old.entries()) {
    const ended = await waitForEntry(s, 'session_ended', 15_000, { since: since[i] });
    assertFields(ended.args[0], { reason: 'duplicate_login', message: ENDED_MESSAGE }, s.label);
    const delay = ended.at - notices[i].at;
    assert.ok(delay >= 9_000 && delay <= 12_500, `session_ended ${delay} ms after duplicate_login on ${s.label}`);
    const gone = await waitForEntry(s, 'disconnect', 5000, { since: since[i] });
    assert.ok(gone.idx > ended.idx, 'disconnected after session_ended');
    assert.equal(gone.args[0], 'io server disconnect', `${s.label} disconnected by the server`);
  }

  assert.ok(current.connected, 'the new session\'s socket stays connected');
  const untouched = ['duplicate_login', 'session_ended', 'disconnect'].flatMap((e) => received(current, e));
  assert.deepEqual(untouched.map((e) => e.event), []);
});
