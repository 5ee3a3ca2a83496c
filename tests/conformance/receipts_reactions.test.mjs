// Protocol §6.5.5, §6.5.6, §11.8: markMessagesAsRead -> messagesRead to the room on
// every node (participants' `id` matches readers[].userId), and messageReaction add/remove
// -> messageReactionUpdate with the full map; errors; reactions require membership.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { EDGE, VOTERS } from './lib/cluster.mjs';
import { register, createRoom, unknownId } from './lib/rest.mjs';
import { cleanText } from './lib/names.mjs';
import { assertFields } from './lib/expect.mjs';
import { connect, joinRoom, waitFor, waitForEntry, mark, quietPeriod, send } from './lib/socket.mjs';

const [n1, n2, n3] = [VOTERS[0], VOTERS[1] ?? VOTERS[0], VOTERS[2] ?? VOTERS[0]];

let alice, bob, eve, room, sockets, m1, m2, participants;

before(async () => {
  alice = await register(n1, { name: 'Alice' });
  bob = await register(n2, { name: 'Bob' });
  eve = await register(EDGE, { name: 'Eve' });
  room = await createRoom(n1, alice);
  sockets = [await connect(n1, alice), await connect(n2, bob), await connect(EDGE, eve)];
  for (const s of sockets) await joinRoom(s, room._id);
  participants = await waitFor(sockets[0], 'participantsUpdate', 5000, { where: (p) => p?.length === 3 });
  m1 = await send(sockets[0], room._id, cleanText('읽어 주세요'));
  m2 = await send(sockets[0], room._id, cleanText('두번째'));
  for (const s of sockets.slice(1)) await waitFor(s, 'message', 5000, { where: (m) => m?._id === m2._id });
});

function marks() {
  return sockets.map(mark);
}

/** Every member's copy of the next `event` matching `where`. */
function everyone(event, since, where) {
  return Promise.all(sockets.map((s, i) => waitFor(s, event, 5000, { since: since[i], where })));
}

test('markMessagesAsRead -> messagesRead {userId, messageIds} to the room on every node, every time', async () => {
  for (let round = 0; round < 2; round++) {
    const since = marks();
    sockets[1].emit('markMessagesAsRead', { messageIds: [m1._id, m2._id], roomId: room._id });
    const got = await everyone('messagesRead', since, (p) => p?.userId === bob.id);
    for (const p of got) assertFields(p, { userId: bob.id, messageIds: [m1._id, m2._id] }, `round ${round}`);
  }
  // One id per event, as some load clients do; roomId is optional.
  const since = marks();
  sockets[2].emit('markMessagesAsRead', { messageIds: [m1._id] });
  const got = await everyone('messagesRead', since, (p) => p?.userId === eve.id);
  for (const p of got) assertFields(p, { userId: eve.id, messageIds: [m1._id] });
});

test('readers[].userId matches the participants\' id', async () => {
  const since = mark(sockets[0]);
  sockets[0].emit('fetchPreviousMessages', { roomId: room._id, limit: 30 });
  const page = await waitFor(sockets[0], 'previousMessagesLoaded', 5000, { since });
  const stored = page.messages.find((m) => m._id === m1._id);
  const readerIds = stored.readers.map((r) => r.userId);
  assert.ok(readerIds.includes(bob.id) && readerIds.includes(eve.id), `readers ${JSON.stringify(readerIds)}`);
  const participantIds = participants.map((p) => p.id);
  for (const id of [bob.id, eve.id]) assert.ok(participantIds.includes(id), 'participant `id` equals reader userId');
});

test('markMessagesAsRead errors: empty list ignored, unknown message -> Invalid room, non-participant -> Room access denied', async () => {
  const since = mark(sockets[1]);
  sockets[1].emit('markMessagesAsRead', { messageIds: [], roomId: room._id });
  sockets[1].emit('markMessagesAsRead', { roomId: room._id });
  const noise = await quietPeriod(sockets[1], ['messagesRead', 'error'], since);
  assert.deepEqual(noise.map((e) => e.event), []);

  sockets[1].emit('markMessagesAsRead', { messageIds: [unknownId()] });
  assertFields(await waitFor(sockets[1], 'error', 5000, { since }), { message: 'Invalid room' });

  const mallory = await register(n3, { name: 'Mallory' });
  const outsider = await connect(n3, mallory);
  const s2 = mark(outsider);
  outsider.emit('markMessagesAsRead', { messageIds: [m1._id] });
  assertFields(await waitFor(outsider, 'error', 5000, { since: s2 }), { message: 'Room access denied' });
});

test('markMessagesAsRead with mixed-room ids marks only rooms the user belongs to', async () => {
  const mallory = await register(n3, { name: 'Mallory' });
  const theirs = await createRoom(n3, mallory);
  const outsider = await connect(n3, mallory);
  await joinRoom(outsider, theirs._id);
  const foreign = await send(outsider, theirs._id, cleanText('남의 방'));

  // Bob lists his room's message and a message of a room he never joined.
  let since = marks();
  let outsiderSince = mark(outsider);
  sockets[1].emit('markMessagesAsRead', { messageIds: [m1._id, foreign._id, unknownId()] });
  const got = await everyone('messagesRead', since, (p) => p?.userId === bob.id);
  for (const p of got) assertFields(p, { userId: bob.id, messageIds: [m1._id] }, 'only his room\'s id');
  let leaked = await quietPeriod(outsider, ['messagesRead'], outsiderSince);
  assert.deepEqual(leaked.map((e) => e.args[0]), [], 'nothing broadcast in the foreign room');

  // The foreign id first: refused, and nothing changes in either room.
  since = marks();
  outsiderSince = mark(outsider);
  sockets[1].emit('markMessagesAsRead', { messageIds: [foreign._id, m2._id] });
  assertFields(await waitFor(sockets[1], 'error', 5000, { since: since[1] }), { message: 'Room access denied' });
  leaked = await quietPeriod(sockets[0], ['messagesRead'], since[0]);
  assert.deepEqual(leaked.map((e) => e.args[0]), [], 'a refused mark broadcasts nothing');

  const s = mark(outsider);
  outsider.emit('fetchPreviousMessages', { roomId: theirs._id, limit: 30 });
  const page = await waitFor(outsider, 'previousMessagesLoaded', 5000, { since: s });
  const stored = page.messages.find((m) => m._id === foreign._id);
  assert.ok(!stored.readers.some((r) => r.userId === bob.id), `bob must not read ${JSON.stringify(stored.readers)}`);
});

test('messageReaction add/remove -> messageReactionUpdate with the full map on every node', async () => {
  const steps = [
    [sockets[1], { messageId: m1._id, reaction: '👍', type: 'add' }, { '👍': [bob.id] }],
    [sockets[2], { messageId: m1._id, reaction: '👍', type: 'add' }, { '👍': [bob.id, eve.id] }],
    [sockets[2], { messageId: m1._id, emoji: '❤️', type: 'add' }, { '👍': [bob.id, eve.id], '❤️': [eve.id] }],
    [sockets[2], { messageId: m1._id, emoji: '❤️', type: 'add' }, { '👍': [bob.id, eve.id], '❤️': [eve.id] }],
    [sockets[1], { messageId: m1._id, reaction: '👍', type: 'remove' }, { '👍': [eve.id], '❤️': [eve.id] }],
    [sockets[2], { messageId: m1._id, reaction: '👍', type: 'remove' }, { '❤️': [eve.id] }],
    [sockets[2], { messageId: m1._id, emoji: '❤️', type: 'remove' }, {}],
  ];
  for (const [socket, payload, want] of steps) {
    const since = marks();
    socket.emit('messageReaction', payload);
    const got = await everyone('messageReactionUpdate', since, (p) => p?.messageId === m1._id);
    for (const p of got) {
      const sorted = Object.fromEntries(Object.entries(p.reactions).map(([k, v]) => [k, [...v].sort()]));
      const expect = Object.fromEntries(Object.entries(want).map(([k, v]) => [k, [...v].sort()]));
      assert.deepEqual(sorted, expect, `after ${JSON.stringify(payload)}`);
    }
  }
});

test('reactions are stored: history shows the map', async () => {
  const since = marks();
  sockets[0].emit('messageReaction', { messageId: m2._id, reaction: '🎉', type: 'add' });
  await everyone('messageReactionUpdate', since, (p) => p?.messageId === m2._id);
  const s = mark(sockets[2]);
  sockets[2].emit('fetchPreviousMessages', { roomId: room._id, limit: 30 });
  const page = await waitFor(sockets[2], 'previousMessagesLoaded', 5000, { since: s });
  assert.deepEqual(page.messages.find((m) => m._id === m2._id).reactions, { '🎉': [alice.id] });
  assert.deepEqual(page.messages.find((m) => m._id === m1._id).reactions, {});
});

test('messageReaction errors: unknown message, bad type, and a non-member (nothing broadcast)', async () => {
  const since = mark(sockets[1]);
  sockets[1].emit('messageReaction', { messageId: unknownId(), reaction: '👍', type: 'add' });
  assertFields(await waitFor(sockets[1], 'error', 5000, { since }), { message: '메시지를 찾을 수 없습니다.' });
  const s2 = mark(sockets[1]);
  sockets[1].emit('messageReaction', { messageId: m1._id, reaction: '👍', type: 'toggle' });
  assertFields(await waitFor(sockets[1], 'error', 5000, { since: s2 }), { message: '지원하지 않는 리액션 타입입니다.' });

  const mallory = await register(n3, { name: 'Mallory' });
  const outsider = await connect(n3, mallory);
  const memberSince = marks();
  const s3 = mark(outsider);
  outsider.emit('messageReaction', { messageId: m1._id, reaction: '👎', type: 'add' });
  const refusal = await waitForEntry(outsider, ['error', 'messageReactionUpdate'], 5000, { since: s3 });
  assert.equal(refusal.event, 'error', `a non-member's reaction must be refused, got ${JSON.stringify(refusal.args[0])}`);
  assert.equal(typeof refusal.args[0].message, 'string');
  const leaked = await quietPeriod(sockets[0], ['messageReactionUpdate'], memberSince[0]);
  assert.deepEqual(leaked.map((e) => e.args[0]), [], 'no reaction broadcast for a non-member');
});
