// Driven by tests/tests/socket_failover.rs: a client whose node is SIGKILLed
// reconnects to another node's address (as a load balancer would send it) with the
// same credentials, re-joins, and finds every acknowledged message in history.
//
// Protocol with the Rust side: this script prints `KILL <id>` and waits for a line
// `KILLED` on stdin; at the end it prints `RESULT <json>` and exits 0 on success.

import assert from 'node:assert/strict';
import { createInterface } from 'node:readline';
import { NODES } from '../lib/cluster.mjs';
import { register, createRoom, joinRoomRest } from '../lib/rest.mjs';
import { connect, joinRoom, send, waitForEntry, mark, closeAll } from '../lib/socket.mjs';
import { cleanText } from '../lib/names.mjs';

const victimId = Number(process.argv[2]);
const victim = NODES.find((n) => n.id === victimId);
const others = NODES.filter((n) => n.id !== victimId);
assert.ok(victim && others.length >= 2, 'need the victim and two other nodes');

const lines = createInterface({ input: process.stdin });
const killed = new Promise((resolve) => lines.on('line', (l) => l.trim() === 'KILLED' && resolve()));

const alice = await register(others[0], { name: 'Alice' });
const bob = await register(others[1], { name: 'Bob' });
const room = await createRoom(others[0], bob);
assert.equal((await joinRoomRest(others[1], alice, room._id)).status, 200);

const aliceSocket = await connect(victim, alice);
const bobSocket = await connect(others[1], bob);
await joinRoom(aliceSocket, room._id);
await joinRoom(bobSocket, room._id);

// Every message below is acknowledged: its sender saw it come back.
const acked = [];
for (let i = 0; i < 10; i++) {
  acked.push(await send(aliceSocket, room._id, cleanText(`before-a${i}`)));
  acked.push(await send(bobSocket, room._id, cleanText(`before-b${i}`)));
}

// Bob's read mark, acknowledged by its messagesRead broadcast, must survive the kill.
const readBefore = acked[acked.length - 2];
const readSince = mark(bobSocket);
bobSocket.emit('markMessagesAsRead', { messageIds: [readBefore._id] });
await waitForEntry(bobSocket, 'messagesRead', 5_000, { since: readSince, where: (p) => p?.userId === bob.id });

console.log(`KILL ${victimId}`);
await killed;
const downAt = Date.now();

// Bob keeps talking while Alice is away.
for (let i = 0; i < 5; i++) {
  acked.push(await send(bobSocket, room._id, cleanText(`during-b${i}`), 10_000));
}

// Alice comes back through another node with the credentials she had: no login.
aliceSocket.close();
const back = await connect(others[0], alice);
const reconnectedMs = Date.now() - downAt;
await joinRoom(back, room._id, 10_000);
const since = mark(back);
back.emit('fetchPreviousMessages', { roomId: room._id, limit: 100 });
const page = await waitForEntry(back, ['previousMessagesLoaded', 'error'], 10_000, { since });
assert.equal(page.event, 'previousMessagesLoaded', JSON.stringify(page.args[0]));
const history = page.args[0].messages;

const ids = history.map((m) => m._id);
assert.equal(new Set(ids).size, ids.length, 'no duplicates in history');
for (let i = 1; i < history.length; i++) {
  assert.ok(history[i - 1].timestamp < history[i].timestamp, 'history is in ascending order');
  assert.ok(history[i - 1].seq < history[i].seq, 'seq increases');
}
const missing = acked.filter((m) => !ids.includes(m._id)).map((m) => m.content);
assert.deepEqual(missing, [], 'every acknowledged message is in history');
const readers = history.find((m) => m._id === readBefore._id).readers;
assert.ok(readers.some((r) => r.userId === bob.id), `Bob's read mark survived: ${JSON.stringify(readers)}`);

// And Alice can talk again, heard by Bob, whose read receipt reaches her.
const after = await send(back, room._id, cleanText('after'));
await waitForEntry(bobSocket, 'message', 5_000, { where: (m) => m?._id === after._id });
const receiptSince = mark(back);
bobSocket.emit('markMessagesAsRead', { messageIds: [after._id] });
const receipt = await waitForEntry(back, 'messagesRead', 5_000, { since: receiptSince, where: (p) => p?.userId === bob.id });
assert.deepEqual(receipt.args[0].messageIds, [after._id]);

console.log(`RESULT ${JSON.stringify({ acked: acked.length, history: history.length, reconnectedMs })}`);
closeAll();
process.exit(0);
