// Protocol §1.2 and §11.1: CORS on /api/** echoes the Origin with credentials,
// on preflights, successes, 401s and other errors, on every node; Socket.IO accepts
// any origin.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NODES, EDGE, VOTERS, label } from './lib/cluster.mjs';
import { api, describe, register, unknownId } from './lib/rest.mjs';
import { connect, close } from './lib/socket.mjs';

const ORIGIN = 'http://web-client.example:3000';

function headerList(res, name) {
  return (res.headers.get(name) ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
}

function assertCors(res, where) {
  assert.equal(res.headers.get('access-control-allow-origin'), ORIGIN, `${where}: echoed origin (never *)`);
  assert.equal(res.headers.get('access-control-allow-credentials'), 'true', `${where}: credentials`);
}

test('preflight: origin echoed with credentials, the listed methods and headers, max-age 3600', async () => {
  for (const node of NODES) {
    const res = await api(node, 'OPTIONS', '/api/rooms', {
      headers: {
        origin: ORIGIN,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-auth-token,x-session-id',
      },
    });
    const where = `preflight on ${label(node)}`;
    assert.ok(res.status === 200 || res.status === 204, `${where}: ${describe(res)}`);
    assertCors(res, where);
    const methods = headerList(res, 'access-control-allow-methods').map((m) => m.toUpperCase());
    for (const m of ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS']) assert.ok(methods.includes(m), `${where}: method ${m} in ${methods}`);
    const headers = headerList(res, 'access-control-allow-headers');
    for (const h of ['content-type', 'x-auth-token', 'x-session-id']) assert.ok(headers.includes(h), `${where}: header ${h} in ${headers}`);
    assert.equal(res.headers.get('access-control-max-age'), '3600', where);
  }
  // Every listed request header is allowed, also when asked for all at once.
  const all = 'Content-Type, Authorization, x-auth-token, x-session-id, Cache-Control, Pragma';
  const res = await api(EDGE, 'OPTIONS', '/api/auth/login', {
    headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': all },
  });
  assertCors(res, 'preflight with every listed header');
  const allowed = headerList(res, 'access-control-allow-headers');
  for (const h of all.toLowerCase().split(', ')) assert.ok(allowed.includes(h), `header ${h} in ${allowed}`);
});

test('CORS headers on 401 (no token, stale token), on 404 and on success, with exposed headers', async () => {
  const user = await register(VOTERS[0]);
  for (const node of NODES) {
    const noToken = await api(node, 'GET', '/api/rooms', { headers: { origin: ORIGIN } });
    assert.equal(noToken.status, 401, describe(noToken));
    assertCors(noToken, `401 without token on ${label(node)}`);

    const badToken = await api(node, 'GET', '/api/health', { headers: { origin: ORIGIN, 'x-auth-token': 'not-a-jwt' } });
    assert.equal(badToken.status, 401, describe(badToken));
    assert.equal(badToken.text, '');
    assertCors(badToken, `401 with a bad token on ${label(node)}`);

    const missing = await api(node, 'GET', `/api/rooms/${unknownId()}`, { token: user.token, headers: { origin: ORIGIN } });
    assert.equal(missing.status, 404, describe(missing));
    assertCors(missing, `404 on ${label(node)}`);

    const ok = await api(node, 'GET', '/api/users/profile', { token: user.token, headers: { origin: ORIGIN } });
    assert.equal(ok.status, 200, describe(ok));
    assertCors(ok, `200 on ${label(node)}`);
    const exposed = headerList(ok, 'access-control-expose-headers');
    for (const h of ['x-auth-token', 'x-session-id']) assert.ok(exposed.includes(h), `exposed ${h} in ${exposed}`);
  }
});

test('Socket.IO accepts any origin', async () => {
  const user = await register(VOTERS[1] ?? VOTERS[0]);
  for (const transports of [['websocket'], ['polling']]) {
    const socket = await connect(EDGE, user, { transports, extraHeaders: { origin: 'http://elsewhere.example' } });
    assert.ok(socket.connected, `${transports} with a foreign origin`);
    close(socket);
  }
});
