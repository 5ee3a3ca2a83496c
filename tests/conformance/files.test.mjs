// Protocol §5.3, §6.5.3 checks 9-10, §7.1/§7.3: a file message. Alice uploads on one node,
// posts a `file` chatMessage, every member on every node gets it with the `file` object and
// metadata, a member on another node downloads it with `?token=`, history carries it, and a
// file of someone else (or an unknown id) is refused with the contract's error.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { EDGE, VOTERS } from './lib/cluster.mjs';
import { register, createRoom, unknownId, HEX24, describe } from './lib/rest.mjs';
import { cleanText } from './lib/names.mjs';
import { connect, joinRoom, waitFor, mark, sendExpectingError } from './lib/socket.mjs';

const [n1, n2] = [VOTERS[0], VOTERS[1] ?? VOTERS[0]];
const NOT_FOUND = '파일을 찾을 수 없거나 접근 권한이 없습니다.';

let alice, bob, room, aliceSocket, bobSocket;

/** Upload `bytes` as multipart part `file` with the user's token headers. */
async function upload(node, user, name, type, bytes) {
  const form = new FormData();
  form.append('file', new Blob([bytes], { type }), name);
  const res = await fetch(`${node.url}/api/files/upload`, {
    method: 'POST',
    headers: { 'x-auth-token': user.token, 'x-session-id': user.sessionId },
    body: form,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `upload ${name}: HTTP ${res.status} ${text}`);
  return JSON.parse(text).file;
}

before(async () => {
  alice = await register(n1, { name: 'Alice' });
  bob = await register(EDGE, { name: 'Bob' });
  room = await createRoom(n1, alice);
  aliceSocket = await connect(n1, alice);
  bobSocket = await connect(EDGE, bob);
  await joinRoom(aliceSocket, room._id);
  await joinRoom(bobSocket, room._id);
});

test('a file message reaches every member with the file object, and members download it anywhere', async () => {
  const bytes = new Uint8Array(4096).map((_, i) => (i * 7) & 0xff);
  const file = await upload(n1, alice, '사진 1.png', 'image/png', bytes);
  const caption = cleanText('사진');
  const since = [mark(aliceSocket), mark(bobSocket)];
  aliceSocket.emit('chatMessage', {
    room: room._id, type: 'file', content: caption,
    fileData: { _id: file._id, filename: file.filename, originalname: file.originalname, mimetype: file.mimetype, size: file.size },
  });
  const copies = await Promise.all([aliceSocket, bobSocket].map((s, i) =>
    waitFor(s, 'message', 5000, { since: since[i], where: (m) => m?.type === 'file' && m?.content === caption })));
  for (const m of copies) {
    assert.match(m._id, HEX24);
    assert.equal(m.sender.id, alice.id);
    assert.equal(m.file._id, file._id);
    assert.equal(m.file.filename, file.filename);
    assert.equal(m.file.originalname, '사진 1.png');
    assert.equal(m.file.mimetype, 'image/png');
    assert.equal(m.file.size, 4096);
    assert.equal(m.file.user, alice.id);
    assert.deepEqual(m.metadata, { fileType: 'image/png', fileSize: 4096, originalName: '사진 1.png' });
  }

  // Bob, a participant, downloads it from another node with the token in the query.
  const res = await fetch(`${n2.url}/api/files/view/${file.filename}?token=${bob.token}`);
  assert.equal(res.status, 200, describe({ status: res.status, text: await res.clone().text() }));
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);

  // History carries it (without uploader and date).
  const since2 = mark(bobSocket);
  bobSocket.emit('fetchPreviousMessages', { roomId: room._id, limit: 10 });
  const page = await waitFor(bobSocket, 'previousMessagesLoaded', 5000, { since: since2 });
  const stored = page.messages.find((m) => m.type === 'file' && m.content === caption);
  assert.ok(stored, 'the file message is in history');
  assert.equal(stored.file.filename, file.filename);
  assert.equal(stored.metadata.originalName, '사진 1.png');
});

test('a file of someone else, or an unknown one, is refused (checks 9 and 10)', async () => {
  const bobsFile = await upload(EDGE, bob, 'bob.pdf', 'application/pdf', new Uint8Array([1, 2, 3]));
  const cases = [
    [{ room: room._id, type: 'file', content: '', fileData: { _id: bobsFile._id } }, NOT_FOUND],
    [{ room: room._id, type: 'file', content: '', fileData: { _id: unknownId() } }, NOT_FOUND],
    [{ room: room._id, type: 'file', content: '', fileData: {} }, '파일 데이터가 올바르지 않습니다.'],
  ];
  for (const [payload, message] of cases) {
    const error = await sendExpectingError(aliceSocket, payload);
    assert.deepEqual(error, { code: 'MESSAGE_ERROR', message }, JSON.stringify(payload));
  }
});
