// Protocol §4, §6.5.1, §6.5.2, §7.2, §11.4: socket joinRoom (full payload and
// event order, the already-joined path, errors, password rooms), leaveRoom as seen by
// members on other nodes, and the disconnect grace (--leave-grace-ms 1000).

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { EDGE, VOTERS } from './lib/cluster.mjs';
import { authed, register, createRoom, joinRoomRest, HEX24, unknownId } from './lib/rest.mjs';
import { cleanText } from './lib/names.mjs';
import { assertFields } from './lib/expect.mjs';
import {
  connect, joinRoom, waitFor, waitForEntry, mark, quietPeriod, send, sendExpectingError, close, received, QUIET_MS,
} from './lib/socket.mjs';

const [n1, n2, n3] = [VOTERS[0], VOTERS[1] ?? VOTERS[0], VOTERS[2] ?? VOTERS[0]];
const LEAVE_GRACE_MS = 1000;

let alice, bob, room, aliceSocket;

before(async () => {
  alice = await register(n1, { name: 'Alice' });
  bob = await register(EDGE, { name: 'Bob' });
  room = await createRoom(n1, alice);
  aliceSocket = await connect(n1, alice);
  await joinRoom(aliceSocket, room._id);
  await waitFor(aliceSocket, 'message', 5000, { where: (m) => m?.content === 'Alice님이 입장하였습니다.' });
  await waitFor(aliceSocket, 'participantsUpdate');
});

function assertSystemMessage(m, content) {
  assert.match(m._id, HEX24);
  assert.equal(m.room, room._id);
  assert.equal(m.content, content);
  assert.equal(m.type, 'system');
  assert.equal(typeof m.timestamp, 'number');
  assert.equal(m.sender, undefined, 'system messages have no sender');
  assert.deepEqual(m.reactions, {});
  assert.ok(Array.isArray(m.readers), 'readers is an array');
  assert.deepEqual(m.metadata ?? {}, {});
}

/** The events of these log entries in the order they arrived. */
function order(...entries) {
  return [...entries].sort((a, b) => a.idx - b.idx).map((e) => e.event);
}

function ids(users) {
  return users.map((u) => u.id).sort();
}

test('joinRoom on another node, no REST join: joinRoomSuccess (full), then the system message, then participantsUpdate', async () => {
  const bobSocket = await connect(EDGE, bob);
  const aliceSince = mark(aliceSocket);
  const since = mark(bobSocket);
  bobSocket.emit('joinRoom', room._id);

  const success = await waitForEntry(bobSocket, 'joinRoomSuccess', 5000, { since });
  const sys = await waitForEntry(bobSocket, 'message', 5000, { since, where: (m) => m?.type === 'system' });
  const update = await waitForEntry(bobSocket, 'participantsUpdate', 5000, { since });
  assert.deepEqual(order(success, sys, update), ['joinRoomSuccess', 'message', 'participantsUpdate'], 'order of arrival');

  const p = success.args[0];
  assert.equal(p.roomId, room._id);
  assert.deepEqual(p.activeStreams, []);
  assert.equal(p.hasMore, false);
  assert.deepEqual(ids(p.participants), ids([alice, bob]));
  for (const u of p.participants) {
    const want = [alice, bob].find((x) => x.id === u.id);
    assertFields(u, { id: want.id, name: want.name, email: want.email, profileImage: '' });
  }
  assert.ok(p.messages.length <= 30);
  assert.deepEqual(
    p.messages.map((m) => m.content),
    ['Alice님이 입장하였습니다.', 'Bob님이 입장하였습니다.'],
    'the latest messages, ascending, including the joiner\'s own system message',
  );

  assertSystemMessage(sys.args[0], 'Bob님이 입장하였습니다.');
  assert.equal(p.messages[1]._id, sys.args[0]._id);
  assert.deepEqual(ids(update.args[0]), ids([alice, bob]));

  const view = await authed(n3, alice, 'GET', `/api/rooms/${room._id}`);
  assert.deepEqual(ids(view.json.data.participants), ids([alice, bob]), 'socket joinRoom added the participant');

  // Alice, on another node, sees the same two broadcasts in the same order.
  const aSys = await waitForEntry(aliceSocket, 'message', 5000, { since: aliceSince });
  const aUpd = await waitForEntry(aliceSocket, 'participantsUpdate', 5000, { since: aliceSince });
  assert.deepEqual(order(aSys, aUpd), ['message', 'participantsUpdate'], 'order of arrival on another node');
  assert.deepEqual(aSys.args[0], sys.args[0]);
  assert.deepEqual(ids(aUpd.args[0]), ids([alice, bob]));
});

test('a second socket of a joined user: re-joined on connect and on joinRoom with {roomId} only, nothing broadcast', async () => {
  const aliceSince = mark(aliceSocket);
  const second = await connect(n2, bob);
  const onConnect = await waitFor(second, 'joinRoomSuccess', 5000, { where: (p) => p?.roomId === room._id });
  assert.deepEqual(onConnect, { roomId: room._id }, 'connect-phase re-join uses the already-joined path');

  const explicit = await joinRoom(second, room._id);
  assert.deepEqual(explicit, { roomId: room._id });
  const noise = await quietPeriod(aliceSocket, ['message', 'participantsUpdate', 'userLeft'], aliceSince);
  assert.deepEqual(noise.map((e) => e.event), [], 'no enter message or participantsUpdate for a second socket');

  // The second socket is in the socket room: it receives the room's messages.
  const text = cleanText('두번째 소켓');
  await send(aliceSocket, room._id, text);
  await waitFor(second, 'message', 5000, { where: (m) => m?.content === text });
});

test('joinRoom of an unknown room -> joinRoomError 채팅방을 찾을 수 없습니다.', async () => {
  const socket = await connect(n3, alice);
  const since = mark(socket);
  socket.emit('joinRoom', unknownId());
  const err = await waitFor(socket, 'joinRoomError', 5000, { since });
  assertFields(err, { message: '채팅방을 찾을 수 없습니다.' });
  close(socket);
});

test('password room: socket joinRoom refused for a non-participant, allowed after REST join with the password', async () => {
  const owner = await register(n2, { name: 'Owner' });
  const guest = await register(n3, { name: 'Guest' });
  const locked = await createRoom(n2, owner, { password: 'pw-1234' });

  const guestSocket = await connect(n3, guest);
  const since = mark(guestSocket);
  guestSocket.emit('joinRoom', locked._id);
  const refusal = await waitForEntry(guestSocket, ['joinRoomError', 'joinRoomSuccess'], 5000, { since });
  assert.equal(refusal.event, 'joinRoomError', `expected joinRoomError, got ${JSON.stringify(refusal.args[0])}`);
  assert.equal(typeof refusal.args[0].message, 'string');
  const view = await authed(EDGE, owner, 'GET', `/api/rooms/${locked._id}`);
  assert.deepEqual(view.json.data.participants.map((u) => u.id), [owner.id], 'the refused user was not added');

  const ownerSocket = await connect(EDGE, owner);
  const ownerJoin = await joinRoom(ownerSocket, locked._id);
  assert.ok(Array.isArray(ownerJoin.participants), 'the creator (a participant) joins: full payload');

  const rest = await joinRoomRest(EDGE, guest, locked._id, 'pw-1234');
  assert.equal(rest.status, 200);
  const ok = await joinRoom(guestSocket, locked._id);
  assert.deepEqual(ids(ok.participants), ids([owner, guest]));
  await waitFor(ownerSocket, 'message', 5000, { where: (m) => m?.content === 'Guest님이 입장하였습니다.' });
});

test('leaveRoom: members on other nodes get the system message, participantsUpdate, then userLeft', async () => {
  const carol = await register(n3, { name: 'Carol' });
  const carolSocket = await connect(n3, carol);
  const beforeJoin = mark(aliceSocket);
  await joinRoom(carolSocket, room._id);
  await waitForEntry(aliceSocket, 'message', 5000, { since: beforeJoin, where: (m) => m?.content === 'Carol님이 입장하였습니다.' });
  // The join's own participantsUpdate (with Carol) follows its system message; it must
  // have arrived before the mark, or it would be taken for the leave's update.
  await waitForEntry(aliceSocket, 'participantsUpdate', 5000, {
    since: beforeJoin,
    where: (list) => Array.isArray(list) && list.some((u) => u.id === carol.id),
  });

  const since = mark(aliceSocket);
  carolSocket.emit('leaveRoom', room._id);
  const sys = await waitForEntry(aliceSocket, 'message', 5000, { since, where: (m) => m?.type === 'system' });
  const update = await waitForEntry(aliceSocket, 'participantsUpdate', 5000, { since });
  const left = await waitForEntry(aliceSocket, 'userLeft', 5000, { since });
  assert.deepEqual(order(sys, update, left), ['message', 'participantsUpdate', 'userLeft'], 'order of arrival');
  assertSystemMessage(sys.args[0], 'Carol님이 퇴장하였습니다.');
  assert.ok(!update.args[0].some((u) => u.id === carol.id), 'Carol is no longer a participant');
  assert.ok(update.args[0].some((u) => u.id === alice.id));
  assertFields(left.args[0], { userId: carol.id, userName: 'Carol' });

  // Carol's socket left the socket room, and she may no longer send.
  const carolSince = mark(carolSocket);
  const text = cleanText('떠난 뒤');
  await send(aliceSocket, room._id, text);
  const leaked = await quietPeriod(carolSocket, ['message'], carolSince);
  assert.deepEqual(leaked.map((e) => e.args[0].content), [], 'no room messages after leaving');
  const err = await sendExpectingError(carolSocket, { room: room._id, type: 'text', content: cleanText('못 보냄') });
  assertFields(err, { code: 'MESSAGE_ERROR', message: '채팅방 접근 권한이 없습니다.' });

  // Leaving a room not joined is silently ignored.
  const again = mark(carolSocket);
  carolSocket.emit('leaveRoom', room._id);
  const noise = await quietPeriod(carolSocket, ['error', 'message', 'userLeft'], again);
  assert.deepEqual(noise.map((e) => e.event), []);
});

test('disconnect: a reconnect within --leave-grace-ms (to another node) produces no leave/enter; a real disconnect leaves after the grace', async () => {
  const dave = await register(EDGE, { name: 'Dave' });
  const first = await connect(EDGE, dave);
  const beforeJoin = mark(aliceSocket);
  await joinRoom(first, room._id);
  await waitForEntry(aliceSocket, 'message', 5000, { since: beforeJoin, where: (m) => m?.content === 'Dave님이 입장하였습니다.' });
  // The join's participantsUpdate follows its system message; let it arrive before
  // watching for noise.
  await waitForEntry(aliceSocket, 'participantsUpdate', 5000, {
    since: beforeJoin,
    where: (list) => Array.isArray(list) && list.some((u) => u.id === dave.id),
  });

  const since = mark(aliceSocket);
  close(first);
  const second = await connect(n2, dave);
  const rejoined = await waitFor(second, 'joinRoomSuccess', 5000, { where: (p) => p?.roomId === room._id });
  assert.deepEqual(rejoined, { roomId: room._id }, 'the reconnect re-joins through the already-joined path');
  const noise = await quietPeriod(aliceSocket, ['message', 'participantsUpdate', 'userLeft'], since, LEAVE_GRACE_MS + QUIET_MS);
  assert.deepEqual(noise.map((e) => e.args[0]?.content ?? e.event), [], 'no leave/enter messages');
  const text = cleanText('다시 연결');
  await send(second, room._id, text);

  const closedAt = Date.now();
  const since2 = mark(aliceSocket);
  close(second);
  const bye = await waitForEntry(aliceSocket, 'message', LEAVE_GRACE_MS + 5000, {
    since: since2,
    where: (m) => m?.content === 'Dave님이 퇴장하였습니다.',
  });
  assert.ok(bye.at - closedAt >= LEAVE_GRACE_MS - 200, `left ${bye.at - closedAt} ms after the disconnect, before the grace`);
  const left = await waitFor(aliceSocket, 'userLeft', 5000, { since: since2 });
  assertFields(left, { userId: dave.id, userName: 'Dave' });
  assert.equal(received(aliceSocket, 'message', since2).filter((e) => e.args[0].type === 'system').length, 1);
});
