// Protocol §6.5.4, §7.3, §11.7: fetchPreviousMessages pages back with
// before = oldest timestamp seen to the very first message (hasMore:false), nothing
// missing or duplicated, ascending, readers present; limit defaults and cap (100);
// access errors; the late joiner's joinRoomSuccess.messages. Messages are sent from
// two voters and the edge in rapid bursts, so many share a millisecond.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { EDGE, VOTERS } from './lib/cluster.mjs';
import { register, createRoom, unknownId } from './lib/rest.mjs';
import { cleanText } from './lib/names.mjs';
import { assertFields } from './lib/expect.mjs';
import { connect, joinRoom, waitFor, waitForEntry, mark, collect, received, sleep } from './lib/socket.mjs';

const [n1, n2, n3] = [VOTERS[0], VOTERS[1] ?? VOTERS[0], VOTERS[2] ?? VOTERS[0]];
const PER_SENDER = 35;

let alice, bob, eve, room, sockets, expected;

before(async () => {
  alice = await register(n1, { name: 'Alice' });
  bob = await register(n2, { name: 'Bob' });
  eve = await register(EDGE, { name: 'Eve' });
  room = await createRoom(n1, alice);
  sockets = [await connect(n1, alice), await connect(n2, bob), await connect(EDGE, eve)];
  for (const s of sockets) await joinRoom(s, room._id);
  await waitFor(sockets[0], 'message', 5000, { where: (m) => m?.content === 'Eve님이 입장하였습니다.' });

  for (const [i, s] of sockets.entries()) {
    const texts = Array.from({ length: PER_SENDER }, (_, k) => cleanText(`기록 ${i}-${String(k).padStart(2, '0')}`));
    const since = mark(sockets[0]);
    for (const content of texts) s.emit('chatMessage', { room: room._id, type: 'text', content });
    await collect(sockets[0], 'message', PER_SENDER, 15_000, { since, where: (m) => texts.includes(m?.content) });
  }
  // Alice joined first: her socket saw every message of the room, in room order.
  expected = received(sockets[0], 'message').map((e) => e.args[0]).filter((m) => m.room === room._id);
  assert.equal(expected.length, 3 + 3 * PER_SENDER);
});

/** One fetchPreviousMessages round trip: messageLoadStart, then previousMessagesLoaded (or error). */
async function fetchPage(socket, payload) {
  const since = mark(socket);
  socket.emit('fetchPreviousMessages', payload);
  const done = await waitForEntry(socket, ['previousMessagesLoaded', 'error'], 5000, { since });
  if (done.event === 'error') return { error: done.args[0] };
  const start = received(socket, 'messageLoadStart', since);
  assert.equal(start.length, 1, 'one messageLoadStart');
  assert.ok(start[0].idx < done.idx, 'messageLoadStart comes first');
  assert.equal(received(socket, 'previousMessages', since).length, 0, 'never also previousMessages');
  return done.args[0];
}

function assertAscending(messages, what) {
  for (let i = 1; i < messages.length; i++) {
    assert.ok(messages[i].timestamp >= messages[i - 1].timestamp, `${what}: ascending at ${i}`);
  }
}

test('paging with before = oldest timestamp and limit 30 walks back to the first message (from another node)', async () => {
  const pages = [];
  let page = await fetchPage(sockets[1], { roomId: room._id, limit: 30 });
  pages.unshift(page);
  while (page.hasMore && pages.length < 10) {
    page = await fetchPage(sockets[1], { roomId: room._id, before: page.messages[0].timestamp, limit: 30 });
    assert.equal(page.error, undefined, JSON.stringify(page.error));
    pages.unshift(page);
  }
  assert.deepEqual(pages.map((p) => p.messages.length), [18, 30, 30, 30], 'page sizes, oldest first');
  assert.deepEqual(pages.map((p) => p.hasMore), [false, true, true, true]);
  for (const p of pages) assertAscending(p.messages, 'page');

  const all = pages.flatMap((p) => p.messages);
  assertAscending(all, 'history');
  const ids = all.map((m) => m._id);
  assert.equal(new Set(ids).size, ids.length, 'no duplicates');
  assert.deepEqual([...ids].sort(), expected.map((m) => m._id).sort(), 'nothing missing');
  assert.equal(all[0].content, 'Alice님이 입장하였습니다.', 'the very first message');

  const live = new Map(expected.map((m) => [m._id, m]));
  for (const m of all) {
    const l = live.get(m._id);
    assert.equal(m.room, room._id);
    assert.equal(m.content, l.content);
    assert.equal(m.type, l.type);
    assert.equal(m.timestamp, l.timestamp, 'history timestamp equals the live one');
    assert.ok(Array.isArray(m.readers), 'readers is always present in history');
    for (const r of m.readers) assert.equal(typeof r.userId, 'string');
    assert.equal(typeof m.reactions, 'object');
    if (m.type === 'system') {
      assert.equal(m.sender, undefined);
    } else {
      assertFields(m.sender, { id: l.sender.id, name: l.sender.name, email: l.sender.email });
    }
  }
  // Checked last, so the checks above report on their own: each connection's burst keeps its order.
  for (const [i] of sockets.entries()) {
    const mine = all.filter((m) => m.content.startsWith(`기록 ${i}-`)).map((m) => m.content);
    assert.deepEqual(mine, [...mine].sort(), `sender ${i}'s messages keep their send order`);
  }
});

test('messageLoadStart carries no arguments', async () => {
  const since = mark(sockets[0]);
  sockets[0].emit('fetchPreviousMessages', { roomId: room._id, limit: 1 });
  const start = await waitForEntry(sockets[0], 'messageLoadStart', 5000, { since });
  assert.deepEqual(start.args, [], 'emitted as ["messageLoadStart"] with no payload');
  await waitFor(sockets[0], 'previousMessagesLoaded', 5000, { since });
});

test('fetched messages list the fetcher among their readers (seen from the edge)', async () => {
  await fetchPage(sockets[1], { roomId: room._id, limit: 30 });
  let page;
  for (let attempt = 0; attempt < 15; attempt++) {
    page = await fetchPage(sockets[2], { roomId: room._id, limit: 30 });
    if (page.messages.every((m) => m.readers.some((r) => r.userId === bob.id))) break;
    await sleep(200);
  }
  for (const m of page.messages) {
    assert.ok(m.readers.some((r) => r.userId === bob.id), `bob in readers of ${m.content}`);
    for (const r of m.readers) assert.ok('readAt' in r, 'reader has readAt');
  }
});

test('limit: missing or <= 0 means 30, capped at 100; before <= 0 means now', async () => {
  for (const payload of [{ roomId: room._id }, { roomId: room._id, limit: 0 }, { roomId: room._id, limit: -5 }]) {
    const page = await fetchPage(sockets[0], payload);
    assert.equal(page.messages.length, 30, JSON.stringify(payload));
    assert.equal(page.hasMore, true);
  }
  const big = await fetchPage(sockets[2], { roomId: room._id, limit: 1000 });
  assert.equal(big.messages.length, 100, 'limit capped at 100');
  assert.equal(big.hasMore, true);
  assertAscending(big.messages, 'capped page');

  const latest = await fetchPage(sockets[1], { roomId: room._id, before: 0, limit: 5 });
  assert.deepEqual(latest.messages.map((m) => m._id), expected.slice(-5).map((m) => m._id));
});

test('fetch by a non-participant or for an unknown room -> LOAD_ERROR 채팅방 접근 권한이 없습니다.', async () => {
  const mallory = await register(n3, { name: 'Mallory' });
  const outsider = await connect(n3, mallory);
  for (const roomId of [room._id, unknownId()]) {
    const res = await fetchPage(outsider, { roomId, limit: 30 });
    assertFields(res.error, { code: 'LOAD_ERROR', message: '채팅방 접근 권한이 없습니다.' }, roomId);
  }
});

test('a late joiner gets the latest 30 messages ascending in joinRoomSuccess, ending with its own entry', async () => {
  const dan = await register(n3, { name: 'Dan' });
  const socket = await connect(n3, dan);
  const joined = await joinRoom(socket, room._id);
  assert.equal(joined.messages.length, 30);
  assert.equal(joined.hasMore, true);
  assertAscending(joined.messages, 'joinRoomSuccess.messages');
  assert.equal(joined.messages[29].content, 'Dan님이 입장하였습니다.');
  assert.deepEqual(joined.messages.slice(0, 29).map((m) => m._id), expected.slice(-29).map((m) => m._id));
});
