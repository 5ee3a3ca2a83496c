// REST calls with Node's built-in fetch: register/login/rooms, every call bounded by a timeout.

import assert from 'node:assert/strict';
import { unique } from './names.mjs';

const REST_TIMEOUT_MS = 10_000;

function baseOf(node) {
  return typeof node === 'string' ? node : node.url;
}

/**
 * One HTTP request. `body` is sent as JSON; `raw` is sent as-is (Content-Type
 * application/json unless given). Credentials go in x-auth-token / x-session-id.
 * Returns `{ status, headers, text, json }` (`json` undefined when the body is not JSON).
 */
export async function api(node, method, path, { body, raw, token, sessionId, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h['x-auth-token'] = token;
  if (sessionId) h['x-session-id'] = sessionId;
  let payload;
  if (raw !== undefined) {
    payload = raw;
    h['content-type'] ??= 'application/json';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    h['content-type'] = 'application/json';
  }
  const res = await fetch(baseOf(node) + path, {
    method,
    headers: h,
    body: payload,
    signal: AbortSignal.timeout(REST_TIMEOUT_MS),
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** `api` plus credentials of `user` (x-auth-token and x-session-id, as the web client sends). */
export function authed(node, user, method, path, opts = {}) {
  return api(node, method, path, { ...opts, token: user.token, sessionId: user.sessionId });
}

export function describe(res) {
  return `HTTP ${res.status} ${res.text.slice(0, 300)}`;
}

/**
 * Register a new user on `node`; register logs in (201 with token + sessionId).
 * Returns `{ id, name, email, password, token, sessionId }`.
 */
export async function register(node, { name, email, password = 'secret12' } = {}) {
  const tag = unique('u');
  name ??= `User ${tag}`;
  email ??= `conf-${tag}@example.com`;
  const res = await api(node, 'POST', '/api/auth/register', { body: { name, email, password } });
  assert.equal(res.status, 201, `register ${email}: ${describe(res)}`);
  const b = res.json;
  return { id: b.user?._id, name, email: email.toLowerCase(), password, token: b.token, sessionId: b.sessionId };
}

/** Log `user` in again on `node`; returns the new credentials (the old session is replaced). */
export async function login(node, user, { userAgent } = {}) {
  const headers = userAgent ? { 'user-agent': userAgent } : {};
  const res = await api(node, 'POST', '/api/auth/login', { body: { email: user.email, password: user.password }, headers });
  assert.equal(res.status, 200, `login ${user.email}: ${describe(res)}`);
  return { ...user, token: res.json.token, sessionId: res.json.sessionId, response: res };
}

/** Create a room as `user` (201); returns the RoomResponse. */
export async function createRoom(node, user, { name = unique('room'), password } = {}) {
  const body = password === undefined ? { name } : { name, password };
  const res = await authed(node, user, 'POST', '/api/rooms', { body });
  assert.equal(res.status, 201, `create room ${name}: ${describe(res)}`);
  return res.json.data;
}

/** REST join (`{}` or `{password}`); returns the response. */
export function joinRoomRest(node, user, roomId, password) {
  return authed(node, user, 'POST', `/api/rooms/${roomId}/join`, { body: password === undefined ? {} : { password } });
}

export const HEX24 = /^[0-9a-f]{24}$/;
export const HEX32 = /^[0-9a-f]{32}$/;

/** A syntactically valid id that names nothing. */
export function unknownId() {
  let s = '';
  while (s.length < 24) s += Math.floor(Math.random() * 16).toString(16);
  return s;
}
