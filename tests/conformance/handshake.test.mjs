// Protocol §1.1, §6.1, §9, §11.1 and §11.3: health, Engine.IO OPEN, the Socket.IO
// handshake on every node (websocket and polling), and its exact connect errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NODES, EDGE, VOTERS, label } from './lib/cluster.mjs';
import { api, describe, register, login, HEX32 } from './lib/rest.mjs';
import { connect, connectError, close } from './lib/socket.mjs';
import { rawSocket, foreignJwt, jwtClaims } from './lib/raw.mjs';

const [n1, n2, n3] = [VOTERS[0], VOTERS[1] ?? VOTERS[0], VOTERS[2] ?? VOTERS[0]];

test('GET /api/health answers 200 {status:"ok"} on every node', async () => {
  for (const node of NODES) {
    const res = await api(node, 'GET', '/api/health');
    assert.equal(res.status, 200, `${label(node)}: ${describe(res)}`);
    assert.equal(res.json?.status, 'ok', label(node));
    assert.equal(typeof res.json.timestamp, 'string');
  }
});

test('Engine.IO v4 OPEN over polling: sid, websocket upgrade, ping 25000/60000', async () => {
  for (const node of NODES) {
    const res = await api(node, 'GET', '/socket.io/?EIO=4&transport=polling');
    assert.equal(res.status, 200, `${label(node)}: ${describe(res)}`);
    assert.equal(res.text[0], '0', `OPEN packet type: ${res.text}`);
    const open = JSON.parse(res.text.slice(1));
    assert.equal(typeof open.sid, 'string');
    assert.ok(open.upgrades.includes('websocket'), `upgrades ${JSON.stringify(open.upgrades)}`);
    assert.equal(open.pingInterval, 25000);
    assert.equal(open.pingTimeout, 60000);
  }
});

test('a registered user connects over websocket to every node, edge included', async () => {
  const user = await register(n1);
  for (const node of NODES) {
    const socket = await connect(node, user);
    assert.ok(socket.connected, label(node));
    assert.equal(typeof socket.id, 'string');
    close(socket);
  }
});

test('the polling transport works too (and upgrades when allowed)', async () => {
  const user = await register(n2);
  const polling = await connect(EDGE, user, { transports: ['polling'] });
  assert.equal(polling.io.engine.transport.name, 'polling');
  close(polling);
  const upgrading = await connect(n1, user, { transports: ['polling', 'websocket'] });
  assert.ok(upgrading.connected);
  close(upgrading);
});

test('no auth payload, or token/sessionId missing or null -> "Authentication error"', async () => {
  const user = await register(n1);
  const cases = [
    ['no auth payload', undefined],
    ['empty auth', {}],
    ['token only', { token: user.token }],
    ['sessionId only', { sessionId: user.sessionId }],
    ['nulls', { token: null, sessionId: null }],
  ];
  for (const [i, [what, auth]] of cases.entries()) {
    const node = NODES[i % NODES.length];
    const err = await connectError(node, auth);
    assert.equal(err.message, 'Authentication error', `${what} on ${label(node)}`);
  }
});

test('an invalid or foreign-signed token -> "Invalid token"', async () => {
  const user = await register(n2);
  const claims = jwtClaims(user.token);
  const [head, body, sig] = user.token.split('.');
  const tampered = `${head}.${body}.${sig.slice(0, -2)}${sig.endsWith('AA') ? 'BB' : 'AA'}`;
  const expired = foreignJwt({ ...claims, exp: Math.floor(Date.now() / 1000) - 3600 });
  const cases = [
    ['garbage', 'not-a-jwt'],
    ['foreign key', foreignJwt(claims)],
    ['tampered signature', tampered],
    ['expired, foreign key', expired],
  ];
  for (const [i, [what, token]] of cases.entries()) {
    const node = NODES[(i + 1) % NODES.length];
    const err = await connectError(node, { token, sessionId: user.sessionId });
    assert.equal(err.message, 'Invalid token', `${what} on ${label(node)}`);
  }
});

test('a replaced or wrong session -> "Invalid session" on every node', async () => {
  const old = await register(n1);
  const fresh = await login(n2, old);
  assert.notEqual(fresh.sessionId, old.sessionId);
  for (const node of NODES) {
    const err = await connectError(node, { token: old.token, sessionId: old.sessionId });
    assert.equal(err.message, 'Invalid session', `old session on ${label(node)}`);
  }
  const wrong = await connectError(n3, { token: fresh.token, sessionId: 'f'.repeat(32) });
  assert.equal(wrong.message, 'Invalid session', 'valid token with another session id');
  const ok = await connect(EDGE, fresh);
  assert.ok(ok.connected, 'the new session connects');
  close(ok);
});

test('raw wire: CONNECT without auth gets CONNECT_ERROR {message}, with auth a CONNECT ack {sid}', async () => {
  const user = await register(n3);
  assert.match(user.sessionId, HEX32);

  const anon = await rawSocket(EDGE);
  await anon.frame((f) => f.startsWith('0{'));
  anon.send('40');
  const refusal = await anon.frame((f) => f.startsWith('4'));
  assert.ok(refusal.startsWith('44'), `expected a CONNECT_ERROR packet, got ${refusal}`);
  assert.deepEqual(JSON.parse(refusal.slice(2)), { message: 'Authentication error' });
  anon.close();

  const good = await rawSocket(n1);
  await good.frame((f) => f.startsWith('0{'));
  good.send('40' + JSON.stringify({ token: user.token, sessionId: user.sessionId }));
  const ack = await good.frame((f) => f.startsWith('40'));
  assert.equal(typeof JSON.parse(ack.slice(2)).sid, 'string', `CONNECT ack ${ack}`);
  good.close();
});
