// Protocol §6.5.3, §6.7, §7.1, §11.5 and §11.6: chatMessage broadcast to every member
// on every node (sender included), the exact message JSON, send order of a rapid burst,
// and the error catalogue, with members spread over two voters and the edge.
// Later work, deliberately not tested here: file messages and uploads (type "file",
// checks 9-10), AI mentions and streaming (§6.8), user mentions, rate limits (check 4).

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { EDGE, VOTERS } from './lib/cluster.mjs';
import { register, login, createRoom, HEX24, unknownId } from './lib/rest.mjs';
import { BANNED_WORDS, cleanText } from './lib/names.mjs';
import { assertFields } from './lib/expect.mjs';
import {
  connect, joinRoom, waitFor, mark, quietPeriod, send, sendExpectingError, collect, received,
} from './lib/socket.mjs';

const [n1, n2, n3] = [VOTERS[0], VOTERS[1] ?? VOTERS[0], VOTERS[2] ?? VOTERS[0]];

let alice, bob, eve, room;
let members; // sockets: alice@n1, bob@n2, eve@edge

before(async () => {
  alice = await register(n1, { name: 'Alice' });
  bob = await register(n2, { name: 'Bob' });
  eve = await register(EDGE, { name: 'Eve' });
  room = await createRoom(n1, alice);
  members = [await connect(n1, alice), await connect(n2, bob), await connect(EDGE, eve)];
  for (const s of members) await joinRoom(s, room._id);
  // Everyone has seen everyone's entry before the tests start.
  for (const s of members) {
    await waitFor(s, 'message', 5000, { where: (m) => m?.content === 'Eve님이 입장하였습니다.' });
  }
});

/** Each member's copy of the message with this content (waits on every socket). */
function deliveries(content, since) {
  return Promise.all(members.map((s) => waitFor(s, 'message', 5000, { since: since[members.indexOf(s)], where: (m) => m?.content === content })));
}

function marks() {
  return members.map(mark);
}

test('a message reaches every member on every node, the sender included, with the 7.1 JSON', async () => {
  const text = cleanText('안녕하세요');
  const since = marks();
  const before = Date.now();
  members[1].emit('chatMessage', { room: room._id, type: 'text', content: `   ${text}  ` });
  const copies = await deliveries(text, since);
  const m = copies[0];
  for (const c of copies) assert.deepEqual(c, m, 'every node emits the same message');

  assert.match(m._id, HEX24);
  assert.equal(m.room, room._id);
  assert.equal(m.content, text, 'content is trimmed');
  assert.equal(m.type, 'text');
  assert.equal(typeof m.timestamp, 'number');
  assert.ok(Number.isInteger(m.timestamp) && Math.abs(m.timestamp - before) < 60_000, `timestamp ${m.timestamp}`);
  assert.deepEqual(m.sender, { id: bob.id, name: 'Bob', email: bob.email, profileImage: '' });
  assert.deepEqual(m.reactions, {});
  assert.deepEqual(m.metadata ?? {}, {});
  assert.equal(typeof m.seq, 'number');
  for (const absent of ['readers', 'file', 'mentions', 'isDeleted', 'isStreaming']) {
    assert.equal(m[absent], undefined, `${absent} is not emitted`);
  }
});

test('type defaults to text and blank content falls back to the legacy msg field', async () => {
  const a = cleanText('레거시');
  const b = cleanText('레거시 빈내용');
  const since = marks();
  members[2].emit('chatMessage', { room: room._id, msg: a });
  members[2].emit('chatMessage', { room: room._id, content: '  ', msg: b });
  for (const text of [a, b]) {
    const copies = await deliveries(text, since);
    assert.equal(copies[0].type, 'text');
    assert.equal(copies[0].sender.id, eve.id);
  }
});

test('messages sent at once from two nodes reach every member in seq order, none missing', async () => {
  // Alice (voter 1) and Eve (the edge) send concurrently; the room's seq is allocated by
  // the store, and every node must emit the room's messages in that order.
  const fromAlice = Array.from({ length: 15 }, (_, i) => cleanText(`동시 a${String(i).padStart(2, '0')}`));
  const fromEve = Array.from({ length: 15 }, (_, i) => cleanText(`동시 e${String(i).padStart(2, '0')}`));
  const all = [...fromAlice, ...fromEve];
  const since = marks();
  for (let i = 0; i < 15; i++) {
    members[0].emit('chatMessage', { room: room._id, type: 'text', content: fromAlice[i] });
    members[2].emit('chatMessage', { room: room._id, type: 'text', content: fromEve[i] });
  }
  const copies = [];
  for (const s of members) {
    const got = await collect(s, 'message', all.length, 10_000, {
      since: since[members.indexOf(s)],
      where: (m) => all.includes(m?.content),
    });
    assert.deepEqual([...got.map((m) => m.content)].sort(), [...all].sort(), `every message once on ${s.label}`);
    for (let i = 1; i < got.length; i++) {
      assert.ok(got[i].seq > got[i - 1].seq, `seq order on ${s.label}: ${got[i - 1].seq} then ${got[i].seq}`);
    }
    copies.push(got.map((m) => m._id));
  }
  assert.deepEqual(copies[1], copies[0], 'node 2 emitted the same order as node 1');
  assert.deepEqual(copies[2], copies[0], 'the edge emitted the same order as node 1');
});

test('a burst of 20 rapid messages from the edge arrives in send order on every node', async () => {
  const texts = Array.from({ length: 20 }, (_, i) => cleanText(`연속 ${String(i).padStart(2, '0')}`));
  const since = marks();
  for (const content of texts) members[2].emit('chatMessage', { room: room._id, type: 'text', content });
  for (const s of members) {
    const got = await collect(s, 'message', 20, 10_000, {
      since: since[members.indexOf(s)],
      where: (m) => texts.includes(m?.content),
    });
    assert.deepEqual(got.map((m) => m.content), texts, `order on ${s.label}`);
    for (let i = 1; i < got.length; i++) {
      assert.ok(got[i].timestamp >= got[i - 1].timestamp, 'timestamps do not go back');
      assert.ok(got[i].seq > got[i - 1].seq, 'seq increases');
    }
  }
});

test('error: missing or blank room -> MESSAGE_ERROR 채팅방 정보가 없습니다.', async () => {
  for (const payload of [{ type: 'text', content: cleanText() }, { room: '', content: cleanText() }, { room: '   ', content: cleanText() }]) {
    const err = await sendExpectingError(members[0], payload);
    assertFields(err, { code: 'MESSAGE_ERROR', message: '채팅방 정보가 없습니다.' }, JSON.stringify(payload));
  }
});

test('error: null payload -> MESSAGE_ERROR 메시지 데이터가 없습니다.', async () => {
  const err = await sendExpectingError(members[1], null);
  assertFields(err, { code: 'MESSAGE_ERROR', message: '메시지 데이터가 없습니다.' });
});

test('error: unknown room, or a user who is not a participant -> 채팅방 접근 권한이 없습니다., nothing broadcast', async () => {
  const unknown = await sendExpectingError(members[0], { room: unknownId(), type: 'text', content: cleanText() });
  assertFields(unknown, { code: 'MESSAGE_ERROR', message: '채팅방 접근 권한이 없습니다.' });

  const mallory = await register(n3, { name: 'Mallory' });
  const outsider = await connect(n3, mallory);
  const since = marks();
  const text = cleanText('외부인');
  const err = await sendExpectingError(outsider, { room: room._id, type: 'text', content: text });
  assertFields(err, { code: 'MESSAGE_ERROR', message: '채팅방 접근 권한이 없습니다.' });
  const leaked = await quietPeriod(members[0], ['message'], since[0]);
  assert.deepEqual(leaked.map((e) => e.args[0].content), []);
});

test('error: any word of the 10k list, uppercased inside other text -> MESSAGE_REJECTED, nothing broadcast', async () => {
  const picks = [0, 1, 4999, 7777, BANNED_WORDS.length - 1, Math.floor(Math.random() * BANNED_WORDS.length)].map(
    (i) => BANNED_WORDS[i],
  );
  const since = marks();
  for (const [i, word] of picks.entries()) {
    const content = `앞말${word.toUpperCase()}뒷말 !`;
    const payload = i === 1 ? { room: room._id, msg: content } : { room: room._id, type: 'text', content };
    const err = await sendExpectingError(members[i % 3], payload);
    assertFields(err, { code: 'MESSAGE_REJECTED', message: '금칙어가 포함된 메시지는 전송할 수 없습니다.' }, word);
  }
  // A clean message sent afterwards is the first thing anyone receives.
  const marker = cleanText('금칙어 이후');
  members[0].emit('chatMessage', { room: room._id, type: 'text', content: marker });
  await deliveries(marker, since);
  for (const s of members) {
    const got = received(s, 'message', since[members.indexOf(s)]).map((e) => e.args[0].content);
    assert.deepEqual(got, [marker], `${s.label} saw only the clean message`);
  }
});

test('error: unsupported type -> MESSAGE_ERROR Unsupported message type: <type>', async () => {
  const err = await sendExpectingError(members[2], { room: room._id, type: 'sticker', content: cleanText() });
  assertFields(err, { code: 'MESSAGE_ERROR', message: 'Unsupported message type: sticker' });
});

test('empty text is silently ignored', async () => {
  const since = marks();
  members[0].emit('chatMessage', { room: room._id, type: 'text', content: '   ' });
  members[0].emit('chatMessage', { room: room._id, type: 'text' });
  const noise = await quietPeriod(members[0], ['message', 'error'], since[0]);
  assert.deepEqual(noise.map((e) => e.event), []);
  assert.deepEqual(received(members[2], 'message', since[2]).map((e) => e.args[0].content), []);
});

test('10,000 characters are accepted; 10,001 get MESSAGE_ERROR', async () => {
  const max = '가'.repeat(10_000);
  const since = marks();
  members[1].emit('chatMessage', { room: room._id, type: 'text', content: max });
  const copies = await deliveries(max, since);
  assert.equal(copies[2].content.length, 10_000);

  const err = await sendExpectingError(members[1], { room: room._id, type: 'text', content: '가'.repeat(10_001) });
  assert.equal(err.code, 'MESSAGE_ERROR');
  assert.equal(typeof err.message, 'string');
  const leaked = await quietPeriod(members[0], ['message'], since[0], 300);
  assert.deepEqual(leaked.map((e) => e.args[0].content.length), [10_000]);
});

test('error: SESSION_EXPIRED once the user logged in again on another node', async () => {
  const frank = await register(n2, { name: 'Frank' });
  const old = await connect(n2, frank);
  await joinRoom(old, room._id);
  await send(old, room._id, cleanText('로그인 전'));
  await login(n3, frank);
  const since = marks();
  const text = cleanText('로그인 후');
  const err = await sendExpectingError(old, { room: room._id, type: 'text', content: text });
  assertFields(err, { code: 'SESSION_EXPIRED', message: '세션이 만료되었습니다. 다시 로그인해주세요.' });
  const leaked = await quietPeriod(members[2], ['message'], since[2], 300);
  assert.deepEqual(leaked.filter((e) => e.args[0].content === text).length, 0, 'nothing broadcast');
});
