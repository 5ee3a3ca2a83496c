// Protocol §6.8, §6.9 and the README's `mention` event: user mentions reach exactly the
// mentioned participant, on whichever node their socket is; AI replies (the built-in
// offline provider, the node's default) stream start → chunks → complete → the stored
// `message` to members on other nodes, in order, without holding up ordinary messages.
// The failing-provider case runs against a differently configured cluster
// (options/ai_unreachable.mjs, tests/tests/node_options.rs).

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { EDGE, VOTERS } from './lib/cluster.mjs';
import { register, createRoom, joinRoomRest, HEX24 } from './lib/rest.mjs';
import { cleanText, unique } from './lib/names.mjs';
import {
  connect, joinRoom, waitFor, waitForEntry, mark, quietPeriod, send, received,
} from './lib/socket.mjs';

const [n1, n2, n3] = [VOTERS[0], VOTERS[1] ?? VOTERS[0], VOTERS[2] ?? VOTERS[0]];
const AI_WAIT_MS = 10_000;

let alice, bob, carol, dave, room;
let sa, sb, sc, sd; // alice@n1 (sender), bob@n2, carol@edge (members), dave@n3 (not a member)

before(async () => {
  alice = await register(n1, { name: unique('Alice') });
  bob = await register(n2, { name: unique('Bob') });
  carol = await register(EDGE, { name: unique('Carol') });
  dave = await register(n3, { name: unique('Dave') });
  room = await createRoom(n1, alice);
  for (const [node, user] of [[n2, bob], [EDGE, carol]]) {
    const res = await joinRoomRest(node, user, room._id);
    assert.equal(res.status, 200);
  }
  [sa, sb, sc, sd] = [await connect(n1, alice), await connect(n2, bob), await connect(EDGE, carol), await connect(n3, dave)];
  for (const s of [sa, sb, sc]) await joinRoom(s, room._id);
});

test('a mention reaches the mentioned user on another node and nobody else', async () => {
  const since = [sa, sb, sc, sd].map(mark);
  const content = `${cleanText('확인 부탁')} @${bob.name} (and @${dave.name}, not in the room; @${alice.name} is me)`;
  const sent = await send(sa, room._id, content);

  const mention = await waitFor(sb, 'mention', 5000, { since: since[1] });
  assert.deepEqual(mention, {
    messageId: sent._id,
    roomId: room._id,
    roomName: room.name,
    from: { id: alice.id, name: alice.name },
    content,
  });
  for (const [i, s] of [[0, sa], [2, sc], [3, sd]]) {
    assert.deepEqual(await quietPeriod(s, ['mention'], since[i]), [], `${s.label} gets no mention`);
  }
  assert.equal(received(sb, 'mention', since[1]).length, 1, 'one mention per message');
});

test('the longest matching name wins and each user is mentioned once', async () => {
  // Bob's name is a prefix of this user's: "@<Bob's name>-x" mentions only the longer one.
  const longer = await register(n3, { name: `${bob.name}-x` });
  assert.equal((await joinRoomRest(n3, longer, room._id)).status, 200);
  const sl = await connect(n3, longer);
  await joinRoom(sl, room._id);
  const since = [mark(sb), mark(sl)];
  const content = `@${longer.name} ${cleanText('둘째')} @${longer.name}`;
  await send(sc, room._id, content);
  const mention = await waitFor(sl, 'mention', 5000, { since: since[1] });
  assert.equal(mention.from.id, carol.id);
  assert.equal(mention.content, content);
  assert.deepEqual(await quietPeriod(sb, ['mention'], since[0]), [], 'the shorter name is not mentioned');
  assert.equal(received(sl, 'mention', since[1]).length, 1, 'mentioned twice, notified once');
});

/** The events of the AI reply with this messageId on `socket`, in arrival order. */
async function aiReply(socket, since, aiType) {
  const start = await waitForEntry(socket, 'aiMessageStart', AI_WAIT_MS, { since, where: (p) => p?.aiType === aiType });
  const id = start.args[0].messageId;
  const complete = await waitForEntry(socket, 'aiMessageComplete', AI_WAIT_MS, { since, where: (p) => p?.messageId === id || (p?.aiType === aiType && !p?.messageId) });
  const stored = await waitForEntry(socket, 'message', AI_WAIT_MS, { since, where: (m) => m?._id === complete.args[0]._id });
  const chunks = received(socket, 'aiMessageChunk', since).filter((e) => e.args[0]?.messageId === id);
  return { start, chunks, complete, stored };
}

test('an AI mention streams start, growing chunks, complete and the stored message to a member on another node', async () => {
  const question = cleanText('레이프트 설명');
  const since = mark(sc);
  const before = Date.now();
  await send(sa, room._id, `@wayneAI ${question}`);
  const { start, chunks, complete, stored } = await aiReply(sc, since, 'wayneAI');

  const s = start.args[0];
  assert.match(s.messageId, /^wayneAI-\d+$/);
  assert.equal(s.messageId, `wayneAI-${s.timestamp}`);
  assert.ok(Math.abs(s.timestamp - before) < 60_000);

  assert.ok(chunks.length >= 3, `a few chunks, got ${chunks.length}`);
  let previous = '';
  for (const c of chunks) {
    const p = c.args[0];
    assert.ok(start.idx < c.idx && c.idx < complete.idx, 'chunks come between start and complete');
    assert.equal(p.isComplete, false);
    assert.ok(p.fullContent.startsWith(previous) && p.fullContent.length > previous.length, 'fullContent grows');
    assert.notEqual(p.fullContent.slice(previous.length).trim(), '', 'no event for a blank chunk');
    assert.equal(p.isCodeBlock, (p.fullContent.match(/```/g) ?? []).length % 2 === 1);
    previous = p.fullContent;
  }
  assert.ok(chunks.some((c) => c.args[0].isCodeBlock), 'isCodeBlock turns on inside the fence');
  assert.equal(chunks.at(-1).args[0].isCodeBlock, false, 'and off after it');

  const done = complete.args[0];
  assert.match(done._id, HEX24);
  assert.equal(done.aiType, 'wayneAI');
  assert.equal(done.content, previous, 'the complete text is the last fullContent');
  assert.ok(done.content.includes('Wayne AI입니다. 질문'), 'whitespace-only chunks are kept');
  assert.ok(done.content.includes(question), 'the query without the mention reaches the provider');
  assert.equal(typeof done.timestamp, 'number');

  assert.ok(complete.idx < stored.idx, 'the stored message follows the completion');
  const m = stored.args[0];
  assert.equal(m.type, 'ai');
  assert.equal(m.aiType, 'wayneAI');
  assert.equal(m.room, room._id);
  assert.equal(m.content, done.content);
  assert.equal(m.sender, undefined, 'AI messages have no sender');
  assert.equal(m.metadata.query, question);
  assert.equal(typeof m.metadata.generationTime, 'number');
  assert.equal(typeof m.seq, 'number');

  // It is in the history too, as type ai.
  const fetched = mark(sb);
  sb.emit('fetchPreviousMessages', { roomId: room._id, limit: 5 });
  const page = await waitFor(sb, 'previousMessagesLoaded', 5000, { since: fetched });
  const inHistory = page.messages.find((h) => h._id === done._id);
  assert.equal(inHistory?.type, 'ai');
  assert.equal(inHistory?.content, done.content);
});

test('two personas in one message start two streams in order of first mention', async () => {
  const since = mark(sb);
  await send(sc, room._id, `@consultingAI ${cleanText('사업 계획')} @wayneAI @consultingAI`);
  const consulting = await aiReply(sb, since, 'consultingAI');
  const wayne = await aiReply(sb, since, 'wayneAI');
  assert.ok(consulting.start.idx < wayne.start.idx, 'consultingAI was mentioned first');
  assert.equal(consulting.stored.args[0].aiType, 'consultingAI');
  assert.equal(wayne.stored.args[0].aiType, 'wayneAI');
  assert.notEqual(consulting.stored.args[0]._id, wayne.stored.args[0]._id);
  assert.equal(received(sb, 'aiMessageStart', since).length, 2, 'one stream per distinct persona');
  assert.equal(received(sb, 'aiMessageError', since).length, 0);
});

test('an ordinary message sent right after an AI mention is not delayed behind the stream', async () => {
  const since = mark(sc);
  const normal = cleanText('바로 다음');
  sa.emit('chatMessage', { room: room._id, type: 'text', content: `@wayneAI ${cleanText('느린 질문')}` });
  sa.emit('chatMessage', { room: room._id, type: 'text', content: normal });
  const arrived = await waitForEntry(sc, 'message', 5000, { since, where: (m) => m?.content === normal });
  const { start, complete } = await aiReply(sc, since, 'wayneAI');
  assert.ok(start.idx < arrived.idx, 'the stream had started');
  assert.ok(arrived.idx < complete.idx, 'the ordinary message arrived while the reply was still streaming');
});
