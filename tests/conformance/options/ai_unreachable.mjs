// Protocol §6.8 step 4, against nodes started with `--ai-provider openai` pointing at a
// closed local port: members on every node get aiMessageStart then aiMessageError (same
// messageId), nothing is stored, and ordinary messages keep flowing. Run by
// tests/tests/node_options.rs with `node --test`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NODES, EDGE } from '../lib/cluster.mjs';
import { register, createRoom, joinRoomRest } from '../lib/rest.mjs';
import { cleanText } from '../lib/names.mjs';
import { connect, joinRoom, send, waitForEntry, mark, quietPeriod, received } from '../lib/socket.mjs';

test('a failing provider ends the reply with aiMessageError on every node and breaks nothing', async () => {
  const node = NODES[0];
  const alice = await register(node, { name: 'Alice' });
  const bob = await register(EDGE, { name: 'Bob' });
  const room = await createRoom(node, alice);
  assert.equal((await joinRoomRest(EDGE, bob, room._id)).status, 200);
  const sa = await connect(node, alice);
  const sb = await connect(EDGE, bob);
  await joinRoom(sa, room._id);
  await joinRoom(sb, room._id);

  const since = [mark(sa), mark(sb)];
  const question = `@wayneAI ${cleanText('질문')}`;
  const own = await send(sa, room._id, question);
  assert.equal(own.content, question, 'the user message itself is delivered');
  for (const [i, s] of [sa, sb].entries()) {
    const start = await waitForEntry(s, 'aiMessageStart', 10_000, { since: since[i] });
    const error = await waitForEntry(s, 'aiMessageError', 15_000, { since: since[i] });
    assert.ok(start.idx < error.idx);
    assert.deepEqual(Object.keys(error.args[0]).sort(), ['aiType', 'error', 'messageId']);
    assert.equal(error.args[0].messageId, start.args[0].messageId);
    assert.equal(error.args[0].aiType, 'wayneAI');
    assert.equal(typeof error.args[0].error, 'string');
    assert.ok(error.args[0].error.length > 0);
  }
  const text = cleanText('계속 동작');
  await send(sb, room._id, text);
  const quiet = await quietPeriod(sa, ['aiMessageComplete', 'aiMessageChunk'], since[0]);
  assert.deepEqual(quiet, [], 'no chunk or completion after a failure');
  assert.equal(received(sa, 'message', since[0]).filter((e) => e.args[0]?.type === 'ai').length, 0, 'nothing stored');
});
