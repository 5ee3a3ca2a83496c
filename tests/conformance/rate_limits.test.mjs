// Protocol §3.5 and §6.10 at the default limits: every GET /api/rooms answer carries
// X-RateLimit-Limit/Remaining/Reset/Window (10 000 per 30 s per client IP, the IP taken
// from X-Forwarded-For first), counted per IP; chat messages are not refused at normal
// rates. Going over the limits is tested against nodes started with small limits
// (options/small_limits.mjs, run by tests/tests/node_options.rs).

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { EDGE, VOTERS } from './lib/cluster.mjs';
import { register, authed, createRoom, describe } from './lib/rest.mjs';
import { cleanText } from './lib/names.mjs';
import { connect, joinRoom, send, mark, quietPeriod } from './lib/socket.mjs';

const n1 = VOTERS[0];
let alice;

before(async () => {
  alice = await register(n1, { name: 'Limiter' });
});

/** A client IP nobody else uses, so its counter starts at zero. */
function freshIp() {
  return `198.51.100.${Math.floor(Math.random() * 250) + 1}, 10.0.0.${Math.floor(Math.random() * 250) + 1}`;
}

function limitHeaders(res) {
  const h = (name) => res.headers.get(name);
  return {
    limit: Number(h('x-ratelimit-limit')),
    remaining: Number(h('x-ratelimit-remaining')),
    reset: Number(h('x-ratelimit-reset')),
    window: Number(h('x-ratelimit-window')),
  };
}

test('every rooms-list answer carries the rate-limit headers of §3.5, counted per client IP', async () => {
  const ip = `203.0.113.${Math.floor(Math.random() * 250) + 1}`;
  const first = await authed(n1, alice, 'GET', '/api/rooms', { headers: { 'x-forwarded-for': `${ip}, 10.1.1.1` } });
  assert.equal(first.status, 200, describe(first));
  const a = limitHeaders(first);
  assert.equal(a.limit, 10_000);
  assert.equal(a.window, 30);
  const nowS = Date.now() / 1000;
  assert.ok(a.reset > nowS - 1 && a.reset <= nowS + 31, `reset ${a.reset} is within the window from now (${nowS})`);
  assert.ok(a.remaining < 10_000);

  const second = await authed(n1, alice, 'GET', '/api/rooms', { headers: { 'x-forwarded-for': ip } });
  const b = limitHeaders(second);
  if (b.reset === a.reset) assert.equal(b.remaining, a.remaining - 1, 'the same IP counts down');

  const other = await authed(n1, alice, 'GET', '/api/rooms', { headers: { 'x-forwarded-for': freshIp() } });
  const o = limitHeaders(other);
  assert.equal(o.remaining, 9_999, 'another IP has its own counter');
  assert.ok(second.headers.get('cache-control'), 'the list headers stay');
});

test('failed rooms-list requests carry the headers too, and other endpoints none', async () => {
  const bad = await authed(n1, alice, 'GET', '/api/rooms?page=two', { headers: { 'x-forwarded-for': freshIp() } });
  assert.equal(bad.status, 400, describe(bad));
  assert.equal(bad.json?.code, 'INVALID_REQUEST');
  assert.equal(bad.json?.path, '/api/rooms');
  assert.equal(limitHeaders(bad).limit, 10_000);
  const room = await createRoom(n1, alice);
  const show = await authed(n1, alice, 'GET', `/api/rooms/${room._id}`);
  assert.equal(show.status, 200);
  assert.equal(show.headers.get('x-ratelimit-limit'), null, 'only GET /api/rooms is limited');
});

test('a burst of chat messages at the default limit is not refused', async () => {
  const room = await createRoom(n1, alice);
  const s = await connect(EDGE, alice);
  await joinRoom(s, room._id);
  const since = mark(s);
  for (let i = 0; i < 20; i++) await send(s, room._id, cleanText(`연속 ${i}`));
  assert.deepEqual(await quietPeriod(s, ['error'], since, 100), []);
});
