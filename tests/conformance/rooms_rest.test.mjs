// Protocol §2, §3.3, §3.5, §11.2 and §11.9: auth endpoints (register logs in,
// credentials from all three sources, refresh keeps the session), the room JSON,
// list envelope, create/join, and the room events roomCreated / roomUpdated across nodes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NODES, EDGE, VOTERS, label } from './lib/cluster.mjs';
import {
  api, authed, describe, register, login, createRoom, joinRoomRest, HEX24, HEX32, unknownId,
} from './lib/rest.mjs';
import { unique } from './lib/names.mjs';
import { assertFields } from './lib/expect.mjs';
import { connect, joinRoom, waitFor, close } from './lib/socket.mjs';
import { jwtClaims } from './lib/raw.mjs';

const [n1, n2, n3] = [VOTERS[0], VOTERS[1] ?? VOTERS[0], VOTERS[2] ?? VOTERS[0]];

function assertUserResponse(u, user, where) {
  assert.deepEqual(
    { id: u?.id, name: u?.name, email: u?.email, profileImage: u?.profileImage },
    { id: user.id, name: user.name, email: user.email, profileImage: '' },
    where,
  );
}

function assertRoom(room, { name, hasPassword, creator, participants }) {
  assert.match(room._id, HEX24, '_id is 24 hex');
  assert.equal(room.name, name);
  assert.equal(room.hasPassword, hasPassword);
  assertUserResponse(room.creator, creator, 'creator');
  const ids = room.participants.map((p) => p.id).sort();
  assert.deepEqual(ids, participants.map((p) => p.id).sort(), 'participant ids');
  for (const p of room.participants) {
    assertUserResponse(p, participants.find((x) => x.id === p.id), 'participant');
  }
  assert.equal(room.participantsCount, participants.length);
  assert.equal(typeof room.recentMessageCount, 'number');
  assert.match(room.createdAt, /Z$/, 'createdAt ends in Z');
  assert.equal(new Date(room.createdAt).toISOString().slice(0, 19), room.createdAt.slice(0, 19));
  assert.equal(room.password, undefined, 'the room password is never returned');
}

test('register: 201, logged in (token + 32-hex sessionId), lowercased email, working token elsewhere', async () => {
  const tag = unique('reg');
  const res = await api(n1, 'POST', '/api/auth/register', {
    body: { name: 'Reg User', email: `Conf-${tag}@Example.COM`, password: 'p@ss!1', extra: 'ignored' },
  });
  assert.equal(res.status, 201, describe(res));
  const b = res.json;
  assert.equal(b.success, true);
  assert.equal(b.message, '회원가입이 완료되었습니다.');
  assert.equal(b.token.split('.').length, 3);
  assert.match(b.sessionId, HEX32);
  assert.match(b.user._id, HEX24);
  assert.equal(b.user.name, 'Reg User');
  assert.equal(b.user.email, `conf-${tag}@example.com`);
  assert.equal(b.user.profileImage ?? null, null);
  const claims = jwtClaims(b.token);
  assert.equal(claims.userId, b.user._id);
  assert.equal(claims.sessionId, b.sessionId);

  const profile = await api(EDGE, 'GET', '/api/users/profile', { token: b.token, sessionId: b.sessionId });
  assert.equal(profile.status, 200, `register token on ${label(EDGE)}: ${describe(profile)}`);
  assert.equal(profile.json.user.id, b.user._id);

  const dup = await api(n2, 'POST', '/api/auth/register', {
    body: { name: 'Reg Again', email: `CONF-${tag}@example.com`, password: 'secret12' },
  });
  assert.equal(dup.status, 409, `duplicate email (other case, other node): ${describe(dup)}`);
  assertFields(dup.json, { success: false, message: '이미 등록된 이메일입니다.' });
});

test('register validation: 400 with the auth envelope', async () => {
  const res = await api(n2, 'POST', '/api/auth/register', { body: { name: 'x', email: 'nope', password: '123' } });
  assert.equal(res.status, 400, describe(res));
  assert.equal(res.json.success, false);
  assert.equal(res.json.message, '입력값이 올바르지 않습니다.');
  assert.equal(res.json.code, 'VALIDATION_ERROR');
  const byField = Object.fromEntries(res.json.errors.map((e) => [e.field, e.message]));
  assert.equal(byField.name, '이름은 2자 이상이어야 합니다.');
  assert.equal(byField.email, '올바른 이메일 형식이 아닙니다.');
  assert.equal(byField.password, '비밀번호는 6자 이상이어야 합니다.');
});

test('login: 200 shape and headers; 401 for a wrong password and an unknown email', async () => {
  const user = await register(n1);
  const res = await api(n3, 'POST', '/api/auth/login', { body: { email: user.email.toUpperCase(), password: user.password } });
  assert.equal(res.status, 200, describe(res));
  assert.equal(res.json.success, true);
  assert.match(res.json.sessionId, HEX32);
  assert.deepEqual(
    { _id: res.json.user._id, name: res.json.user.name, email: res.json.user.email },
    { _id: user.id, name: user.name, email: user.email },
  );
  assert.equal(res.headers.get('authorization'), `Bearer ${res.json.token}`);
  assert.equal(res.headers.get('x-session-id'), res.json.sessionId);

  for (const [node, body] of [
    [EDGE, { email: user.email, password: 'wrong-password' }],
    [n2, { email: `nobody-${unique('x')}@example.com`, password: 'whatever1' }],
  ]) {
    const bad = await api(node, 'POST', '/api/auth/login', { body });
    assert.equal(bad.status, 401, `${label(node)}: ${describe(bad)}`);
    assertFields(bad.json, { success: false, message: '이메일 또는 비밀번호가 올바르지 않습니다.' });
  }
});

test('credentials from x-auth-token and Authorization: Bearer, on every node; ?token= only on file URLs; none -> 401 empty', async () => {
  const user = await register(n2);
  for (const node of NODES) {
    const viaHeader = await api(node, 'GET', '/api/users/profile', { headers: { 'x-auth-token': user.token } });
    const viaBearer = await api(node, 'GET', '/api/users/profile', { headers: { authorization: `Bearer ${user.token}` } });
    for (const [what, res] of [['x-auth-token', viaHeader], ['Bearer', viaBearer]]) {
      assert.equal(res.status, 200, `${what} on ${label(node)}: ${describe(res)}`);
      assert.equal(res.json.user.id, user.id);
    }
    // Our implementation reads ?token= on /api/files/download and /api/files/view only.
    const viaQuery = await api(node, 'GET', `/api/users/profile?token=${encodeURIComponent(user.token)}`);
    assert.equal(viaQuery.status, 401, `?token= on ${label(node)}: ${describe(viaQuery)}`);
  }
  const none = await api(n3, 'GET', '/api/rooms');
  assert.equal(none.status, 401, describe(none));
  assert.equal(none.text, '', '401 has an empty body');
  assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
});

test('a replaced token gets 401 with an empty body on every /api path, public ones included', async () => {
  const user = await register(n1);
  await login(n2, user);
  const calls = [
    [n3, 'GET', '/api/health', undefined],
    [EDGE, 'POST', '/api/auth/login', { email: user.email, password: user.password }],
    [n1, 'POST', '/api/auth/register', { name: 'Someone', email: `conf-${unique('x')}@example.com`, password: 'secret12' }],
    [n2, 'POST', '/api/auth/verify-token', undefined],
    [n3, 'GET', '/api/rooms', undefined],
  ];
  for (const [node, method, path, body] of calls) {
    const res = await api(node, method, path, { token: user.token, sessionId: user.sessionId, body });
    assert.equal(res.status, 401, `${method} ${path} on ${label(node)}: ${describe(res)}`);
    assert.equal(res.text, '', `${method} ${path}: empty body`);
  }
});

test('refresh-token keeps the session id; the new token and the old session both keep working', async () => {
  const user = await register(n1);
  const res = await api(n2, 'POST', '/api/auth/refresh-token', { token: user.token, sessionId: user.sessionId });
  assert.equal(res.status, 200, describe(res));
  assert.equal(res.json.success, true);
  assert.equal(res.json.message, '토큰이 갱신되었습니다.');
  assert.equal(res.json.sessionId, user.sessionId);
  assert.equal(jwtClaims(res.json.token).sessionId, user.sessionId);
  for (const token of [res.json.token, user.token]) {
    const health = await api(EDGE, 'GET', '/api/health', { token });
    assert.equal(health.status, 200, describe(health));
  }
  // The web client keeps its old sessionId and uses the new token for the handshake.
  const socket = await connect(n3, { ...user, token: res.json.token });
  close(socket);
});

test('create room: 201 {success, data: RoomResponse}; visible at once on every node; list envelope', async () => {
  const alice = await register(n1);
  const name = unique('방 이름');
  const res = await authed(n1, alice, 'POST', '/api/rooms', {
    body: { name, description: 'ignored', participants: ['ignored'] },
  });
  assert.equal(res.status, 201, describe(res));
  assert.equal(res.json.success, true);
  const room = res.json.data;
  assertRoom(room, { name, hasPassword: false, creator: alice, participants: [alice] });
  assert.equal(room.recentMessageCount, 0);

  for (const node of NODES) {
    const got = await authed(node, alice, 'GET', `/api/rooms/${room._id}`);
    assert.equal(got.status, 200, `${label(node)}: ${describe(got)}`);
    assert.equal(got.json.success, true);
    assertRoom(got.json.data, { name, hasPassword: false, creator: alice, participants: [alice] });

    const list = await authed(node, alice, 'GET', `/api/rooms?page=0&pageSize=10&search=${encodeURIComponent(name.toUpperCase())}`);
    assert.equal(list.status, 200, `${label(node)}: ${describe(list)}`);
    assert.equal(list.json.success, true);
    assert.deepEqual(list.json.data.map((r) => r._id), [room._id], `search on ${label(node)}`);
    const m = list.json.metadata;
    assert.equal(m.total, 1);
    assert.equal(m.page, 0);
    assert.equal(m.pageSize, 10);
    assert.equal(m.totalPages, 1);
    assert.equal(m.hasMore, false);
    assert.equal(m.currentCount, 1);
    assert.deepEqual(m.sort, { field: 'createdAt', order: 'desc' });
  }

  // Bearer only, as some clients create rooms.
  const bearer = await api(EDGE, 'POST', '/api/rooms', {
    headers: { authorization: `Bearer ${alice.token}` },
    body: { name: unique('bearer room') },
  });
  assert.equal(bearer.status, 201, describe(bearer));
  assert.match(bearer.json.data._id, HEX24);

  const page = await authed(n2, alice, 'GET', '/api/rooms?page=0&pageSize=1');
  assert.equal(page.json.data.length, 1);
  assert.equal(page.json.metadata.hasMore, true, 'at least two rooms exist: another page');
});

test('room lookups: unknown or malformed id -> 404 채팅방을 찾을 수 없습니다.', async () => {
  const user = await register(n3);
  for (const [node, id] of [[n1, unknownId()], [EDGE, 'not-an-id']]) {
    const res = await authed(node, user, 'GET', `/api/rooms/${id}`);
    assert.equal(res.status, 404, `${id} on ${label(node)}: ${describe(res)}`);
    assertFields(res.json, { success: false, message: '채팅방을 찾을 수 없습니다.' });
  }
  const join = await joinRoomRest(n2, user, unknownId());
  assert.equal(join.status, 404, describe(join));
});

test('room validation: 400 VALIDATION_ERROR with path and no message', async () => {
  const user = await register(n1);
  const res = await authed(n2, user, 'POST', '/api/rooms', { body: { name: 'a' } });
  assert.equal(res.status, 400, describe(res));
  assert.equal(res.json.success, false);
  assert.equal(res.json.code, 'VALIDATION_ERROR');
  assert.equal(res.json.path, '/api/rooms');
  assert.equal(res.json.message, undefined);
  assert.ok(res.json.errors.length >= 1);
});

test('password room: hasPassword, REST join 401 without/with a wrong password, 200 with it', async () => {
  const owner = await register(n1);
  const guest = await register(EDGE);
  const name = unique('secret room');
  const room = await createRoom(n1, owner, { name, password: 'open-sesame' });
  assertRoom(room, { name, hasPassword: true, creator: owner, participants: [owner] });

  for (const [node, pw] of [[n2, undefined], [EDGE, 'wrong-one']]) {
    const res = await joinRoomRest(node, guest, room._id, pw);
    assert.equal(res.status, 401, `${label(node)}: ${describe(res)}`);
    assertFields(res.json, { success: false, message: '비밀번호가 일치하지 않습니다.' });
  }
  const ok = await joinRoomRest(n3, guest, room._id, 'open-sesame');
  assert.equal(ok.status, 200, describe(ok));
  assertRoom(ok.json.data, { name, hasPassword: true, creator: owner, participants: [owner, guest] });
  const again = await joinRoomRest(n1, guest, room._id, 'open-sesame');
  assert.equal(again.status, 200, 'REST join is idempotent');
  assert.equal(again.json.data.participantsCount, 2);
});

test('roomCreated reaches sockets on other nodes; roomUpdated reaches room members on a REST join', async () => {
  const creator = await register(n1);
  const watcher = await register(n2);
  const watchers = [await connect(n2, watcher), await connect(EDGE, watcher)];
  const name = unique('broadcast room');
  const room = await createRoom(n1, creator, { name });
  for (const socket of watchers) {
    const created = await waitFor(socket, 'roomCreated', 5000, { where: (r) => r?._id === room._id });
    assert.equal(created.name, name);
    assert.equal(created.hasPassword, false);
    assert.equal(created.creator.id, creator.id);
    assert.deepEqual(created.participants.map((p) => p.id), [creator.id]);
  }

  // A member's socket in the room (on the edge) sees a REST join made on another node.
  const member = await connect(EDGE, creator);
  await joinRoom(member, room._id);
  const joiner = await register(n3);
  const res = await joinRoomRest(n3, joiner, room._id);
  assert.equal(res.status, 200, describe(res));
  const updated = await waitFor(member, 'roomUpdated', 5000, { where: (r) => r?._id === room._id });
  assert.deepEqual(updated.participants.map((p) => p.id).sort(), [creator.id, joiner.id].sort());
});
