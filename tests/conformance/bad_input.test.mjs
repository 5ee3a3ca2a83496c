// Robustness (protocol §6.1 "unknown events are ignored", §6.3 payload shapes, §1.1
// frame limit, §10.25): garbage payloads for every client event get the specified
// error or are ignored, and the node keeps serving; raw garbage frames do not crash a
// node; malformed REST JSON is a 400 that creates nothing.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { NODES, EDGE, VOTERS, label } from './lib/cluster.mjs';
import { api, authed, describe, register, createRoom } from './lib/rest.mjs';
import { cleanText, unique } from './lib/names.mjs';
import { assertFields } from './lib/expect.mjs';
import { connect, joinRoom, waitFor, mark, quietPeriod, send, received, sleep } from './lib/socket.mjs';
import { rawSocket } from './lib/raw.mjs';

const [n1, n2] = [VOTERS[0], VOTERS[1] ?? VOTERS[0]];
const EVENTS = ['joinRoom', 'leaveRoom', 'chatMessage', 'fetchPreviousMessages', 'markMessagesAsRead', 'messageReaction'];
// Big, but every packet stays under the 64 KiB frame limit (a larger frame may close the connection).
const HUGE = 'x'.repeat(20_000);
const GARBAGE = [
  null, 0, 42, -1.5, true, '', 'garbage', HUGE, [], [1, 'two', null], {}, { room: 123 }, { room: { $ne: null } },
  { roomId: 5, limit: 'ten', before: 'yesterday' }, { roomId: [], limit: 1e308, before: -1 },
  { messageIds: 'abc' }, { messageIds: [1, null, {}] }, { messageId: null, reaction: 5, type: 'add' },
  { messageId: {}, emoji: [], type: 7 }, { room: HUGE, content: HUGE, type: HUGE },
];

let alice, bob, room, aliceSocket, bobSocket;

before(async () => {
  alice = await register(n1, { name: 'Alice' });
  bob = await register(EDGE, { name: 'Bob' });
  room = await createRoom(n1, alice);
  aliceSocket = await connect(n1, alice);
  bobSocket = await connect(EDGE, bob);
  await joinRoom(aliceSocket, room._id);
  await joinRoom(bobSocket, room._id);
});

async function stillServing(socket, peer) {
  assert.ok(socket.connected, `${socket.label} is still connected`);
  const text = cleanText('정상 메시지');
  await send(socket, room._id, text);
  await waitFor(peer, 'message', 5000, { where: (m) => m?.content === text });
}

test('garbage payloads for every event: the specified error or nothing, and the socket keeps working', async () => {
  for (const [socket, peer] of [[aliceSocket, bobSocket], [bobSocket, aliceSocket]]) {
    for (const event of EVENTS) {
      const since = mark(socket);
      socket.emit(event); // no argument at all
      for (const payload of GARBAGE) socket.emit(event, payload);
      socket.emit(event, {}, room._id, { args: true }); // only the first argument counts
      await sleep(150);
      for (const e of received(socket, 'error', since).concat(received(socket, 'joinRoomError', since))) {
        assert.equal(typeof e.args[0]?.message, 'string', `${event}: ${e.event} payload ${JSON.stringify(e.args[0])?.slice(0, 200)}`);
      }
      await stillServing(socket, peer);
    }
  }
  for (const node of NODES) {
    const res = await api(node, 'GET', '/api/health');
    assert.equal(res.status, 200, `${label(node)}: ${describe(res)}`);
  }
});

test('specified answers to malformed payloads', async () => {
  const cases = [
    ['chatMessage', null, 'error', { code: 'MESSAGE_ERROR', message: '메시지 데이터가 없습니다.' }],
    ['chatMessage', {}, 'error', { code: 'MESSAGE_ERROR', message: '채팅방 정보가 없습니다.' }],
    ['chatMessage', { content: cleanText() }, 'error', { code: 'MESSAGE_ERROR', message: '채팅방 정보가 없습니다.' }],
    ['joinRoom', 'not-a-room-id', 'joinRoomError', { message: '채팅방을 찾을 수 없습니다.' }],
    ['fetchPreviousMessages', { roomId: 'not-a-room-id' }, 'error', { code: 'LOAD_ERROR', message: '채팅방 접근 권한이 없습니다.' }],
    ['messageReaction', { messageId: room._id, reaction: '👍', type: 'add' }, 'error', { message: '메시지를 찾을 수 없습니다.' }],
  ];
  for (const [event, payload, answer, expected] of cases) {
    const since = mark(bobSocket);
    bobSocket.emit(event, payload);
    const got = await waitFor(bobSocket, answer, 5000, { since });
    assertFields(got, expected, `${event} ${JSON.stringify(payload)}`);
  }
  const since = mark(bobSocket);
  bobSocket.emit('markMessagesAsRead', {});
  bobSocket.emit('markMessagesAsRead', { messageIds: [] });
  bobSocket.emit('leaveRoom', 'not-a-room-id');
  const noise = await quietPeriod(bobSocket, ['error', 'messagesRead', 'userLeft'], since);
  assert.deepEqual(noise.map((e) => e.event), [], 'ignored silently');
});

test('unknown events (joinRoomList, ping with ack, made-up names) are ignored', async () => {
  const since = mark(aliceSocket);
  aliceSocket.emit('joinRoomList');
  aliceSocket.emit('ping', null, () => {}); // the web client's heartbeat: an ack or nothing is fine
  aliceSocket.emit('noSuchEvent', { room: room._id, content: 'x' });
  aliceSocket.emit('__proto__', {});
  aliceSocket.emit('constructor', 'x');
  const noise = await quietPeriod(aliceSocket, ['error', 'message', 'disconnect'], since);
  assert.deepEqual(noise.map((e) => e.event), []);
  await stillServing(aliceSocket, bobSocket);
});

test('raw websocket garbage (bad packets, binary junk, an oversized frame) does not hurt the node', async () => {
  for (const node of [EDGE, n2]) {
    const raw = await rawSocket(node);
    await raw.frame((f) => f.startsWith('0{'));
    const junk = [
      'garbage', '', '4', '9', '42', '42[', '42["chatMessage",{', '40{bad json', '41', '43', '44',
      '4{"x":1}', '42["joinRoom"]', '4-1', '451-["x",{"_placeholder":true,"num":99}]', '2probe', '5', '6', '1',
      '\u0000\uffff', 'b' + 'A'.repeat(100),
    ];
    for (const frame of junk) raw.send(frame);
    raw.send(Buffer.from([0xff, 0x00, 0x13, 0x37, 0xde, 0xad]));
    raw.send('4' + 'z'.repeat(70 * 1024)); // over the 64 KiB frame limit: the node may close this connection
    await sleep(300);
    raw.close();

    // An authenticated raw session that then sends garbage.
    const user = await register(node);
    const authed = await rawSocket(node);
    await authed.frame((f) => f.startsWith('0{'));
    authed.send('40' + JSON.stringify({ token: user.token, sessionId: user.sessionId }));
    await authed.frame((f) => f.startsWith('40'));
    for (const frame of ['42[', '42[1,2,3]', '42[null]', '42[{"a":1}]', '42["chatMessage",' + '['.repeat(5000)]) authed.send(frame);
    await sleep(300);
    authed.close();

    const res = await api(node, 'GET', '/api/health');
    assert.equal(res.status, 200, `${label(node)} after garbage: ${describe(res)}`);
  }
  // Polling garbage: an unknown sid and a junk POST body.
  const bogus = await api(n1, 'POST', '/socket.io/?EIO=4&transport=polling&sid=nope', { raw: '\u001e\u001e42[', headers: { 'content-type': 'text/plain' } });
  assert.ok(bogus.status >= 400 && bogus.status < 500, `bogus polling POST: ${describe(bogus)}`);

  await stillServing(bobSocket, aliceSocket);
  await stillServing(aliceSocket, bobSocket);
});

test('REST malformed JSON -> 400, nothing created', async () => {
  const name = unique('malformed room');
  const roomRes = await authed(n2, alice, 'POST', '/api/rooms', { raw: `{"name":"${name}","password":` });
  assert.equal(roomRes.status, 400, `POST /api/rooms: ${describe(roomRes)}`);
  const list = await authed(n1, alice, 'GET', `/api/rooms?search=${encodeURIComponent(name)}`);
  assert.equal(list.json.metadata.total, 0, 'no room created');

  const email = `conf-${unique('malformed')}@example.com`;
  const reg = await api(EDGE, 'POST', '/api/auth/register', { raw: `{"name":"Mal","email":"${email}","password":"secret12"` });
  assert.equal(reg.status, 400, `POST /api/auth/register: ${describe(reg)}`);
  const loginRes = await api(n1, 'POST', '/api/auth/login', { body: { email, password: 'secret12' } });
  assert.equal(loginRes.status, 401, 'no user created');

  const broken = await authed(n1, alice, 'POST', `/api/rooms/${room._id}/join`, { raw: '[' });
  assert.equal(broken.status, 400, `join with a malformed body: ${describe(broken)}`);
  for (const raw of ['null', '"just a string"', '12', '[]']) {
    const res = await authed(n1, alice, 'POST', `/api/rooms/${room._id}/join`, { raw });
    assert.ok(res.status < 500, `join with body ${raw}: ${describe(res)}`);
  }
  const health = await api(n2, 'GET', '/api/health');
  assert.equal(health.status, 200);
});
