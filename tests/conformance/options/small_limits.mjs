// Going over the limits of protocol §3.5 and §6.10, against nodes started with
// `--rooms-rate-limit 5 --chat-rate-limit 5` and one-hour windows (so no window ends
// during a test). Run by tests/tests/node_options.rs with `node --test`.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { NODES, EDGE } from '../lib/cluster.mjs';
import { register, authed, createRoom, joinRoomRest, describe } from '../lib/rest.mjs';
import { cleanText } from '../lib/names.mjs';
import { connect, joinRoom, send, sendExpectingError, mark, quietPeriod, waitFor } from '../lib/socket.mjs';

const LIMIT = 5;
const WINDOW_MS = 3_600_000;
const node = NODES[0];
let alice, bob;

before(async () => {
  alice = await register(node, { name: 'Alice' });
  bob = await register(EDGE, { name: 'Bob' });
});

test('the sixth rooms-list request from one IP gets 429 with Retry-After and the §3.5 body', async () => {
  const headers = { 'x-forwarded-for': '192.0.2.7' };
  for (let i = 0; i < LIMIT; i++) {
    const res = await authed(node, alice, 'GET', '/api/rooms', { headers });
    assert.equal(res.status, 200, describe(res));
    assert.equal(res.headers.get('x-ratelimit-remaining'), String(LIMIT - 1 - i));
  }
  const refused = await authed(node, alice, 'GET', '/api/rooms', { headers });
  assert.equal(refused.status, 429, describe(refused));
  const retryAfter = Number(refused.headers.get('retry-after'));
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= WINDOW_MS / 1000, `Retry-After ${retryAfter}`);
  assert.deepEqual(refused.json, {
    success: false,
    message: '너무 많은 요청이 발생했습니다. 잠시 후 다시 시도해주세요.',
    meta: { code: 'TOO_MANY_REQUESTS', maxRequests: LIMIT, windowMs: WINDOW_MS, retryAfter },
  });
  assert.equal(refused.headers.get('x-ratelimit-limit'), String(LIMIT));
  assert.equal(refused.headers.get('x-ratelimit-remaining'), '0');
  assert.equal(refused.headers.get('x-ratelimit-window'), String(WINDOW_MS / 1000));
  assert.ok(Number(refused.headers.get('x-ratelimit-reset')) * 1000 >= Date.now());

  const otherIp = await authed(node, alice, 'GET', '/api/rooms', { headers: { 'x-forwarded-for': '192.0.2.8' } });
  assert.equal(otherIp.status, 200, 'another client IP is not affected');
  const created = await authed(node, alice, 'POST', '/api/rooms', { headers, body: { name: 'still allowed' } });
  assert.equal(created.status, 201, 'other endpoints are not limited');
});

test('the sixth chatMessage of a user gets RATE_LIMIT_EXCEEDED with retryAfter, and nothing is broadcast', async () => {
  const room = await createRoom(node, alice);
  assert.equal((await joinRoomRest(EDGE, bob, room._id)).status, 200);
  const sa = await connect(node, alice);
  const sb = await connect(EDGE, bob);
  await joinRoom(sa, room._id);
  await joinRoom(sb, room._id);
  for (let i = 0; i < LIMIT; i++) await send(sa, room._id, cleanText(`한도 ${i}`));

  const seen = mark(sb);
  const refused = cleanText('한도 초과');
  const error = await sendExpectingError(sa, { room: room._id, type: 'text', content: refused });
  assert.equal(error.code, 'RATE_LIMIT_EXCEEDED');
  assert.equal(error.message, '메시지 전송 횟수 제한을 초과했습니다. 잠시 후 다시 시도해주세요.');
  assert.ok(Number.isInteger(error.retryAfter) && error.retryAfter >= 1 && error.retryAfter <= WINDOW_MS / 1000);
  const leaked = (await quietPeriod(sb, ['message'], seen)).filter((e) => e.args[0]?.content === refused);
  assert.deepEqual(leaked, [], 'a refused message is not broadcast');

  // The limit is per user: Bob still sends, and Alice gets his message.
  const text = cleanText('다른 사용자');
  await send(sb, room._id, text);
  await waitFor(sa, 'message', 5000, { where: (m) => m?.content === text });
});
