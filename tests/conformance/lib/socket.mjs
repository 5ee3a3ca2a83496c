// Socket.IO clients (the real socket.io-client 4.x) with an event recorder attached
// before the handshake, so events that arrive before a test starts waiting (including
// those sent during the connect phase) are never missed. Every wait is bounded.

import { after } from 'node:test';
import { io } from 'socket.io-client';
import { label } from './cluster.mjs';
import { assertClean } from './names.mjs';

export const WAIT_MS = 5_000;
/** How long a test listens to conclude that something did NOT happen. */
export const QUIET_MS = 700;

const open = new Set();

// Every test file closes its sockets when it ends, so its process can exit.
after(() => closeAll());

export function closeAll() {
  for (const s of open) s.disconnect();
  open.clear();
}

function record(socket) {
  socket.log = [];
  socket.waiters = new Set();
  const push = (event, args) => {
    const entry = { event, args, at: Date.now(), idx: socket.log.length, used: false };
    socket.log.push(entry);
    for (const w of [...socket.waiters]) w(entry);
  };
  socket.onAny((event, ...args) => push(event, args));
  socket.on('connect', () => push('connect', []));
  socket.on('connect_error', (err) => push('connect_error', [err]));
  socket.on('disconnect', (reason, details) => push('disconnect', [reason, details]));
}

/**
 * A socket to `node` with the client options load clients use. `auth` is passed
 * through as-is (undefined = no auth payload at all). Not awaited: see `connect`.
 */
export function openSocket(node, auth, { name = 'anonymous', ...options } = {}) {
  const socket = io(node.url, {
    ...(auth === undefined ? {} : { auth }),
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    timeout: 10_000,
    ...options,
  });
  socket.label = `${name}@${label(node)}`;
  socket.node = node;
  record(socket);
  open.add(socket);
  return socket;
}

/** Connect `user` ({token, sessionId}) to `node`; resolves once connected, rejects on connect_error. */
export async function connect(node, user, options = {}) {
  const socket = openSocket(node, { token: user.token, sessionId: user.sessionId }, { name: user.name, ...options });
  socket.user = user;
  const first = await waitForEntry(socket, ['connect', 'connect_error'], 10_000);
  if (first.event === 'connect_error') {
    throw new Error(`${socket.label}: connect_error ${first.args[0]?.message}`);
  }
  return socket;
}

/** The `connect_error` an attempt to connect with `auth` gets (an Error with `.message`). */
export async function connectError(node, auth, options = {}) {
  const socket = openSocket(node, auth, options);
  const first = await waitForEntry(socket, ['connect', 'connect_error'], 10_000);
  socket.disconnect();
  open.delete(socket);
  if (first.event === 'connect') throw new Error(`${socket.label}: connected, expected connect_error`);
  return first.args[0];
}

export function close(socket) {
  socket.disconnect();
  open.delete(socket);
}

/** The log position now: pass as `since` to ignore what already arrived. */
export function mark(socket) {
  return socket.log.length;
}

function summary(socket) {
  return socket.log
    .slice(-12)
    .map((e) => `${e.event}${e.args.length ? ' ' + JSON.stringify(e.args[0])?.slice(0, 160) : ''}`)
    .join('\n    ');
}

/**
 * The first not-yet-consumed `event` (a name, or a list of names: the first of any)
 * on `socket` since log position `since` whose first argument satisfies `where`;
 * marks it consumed. Resolves with the log entry `{event, args, at, idx}`; rejects
 * after `ms`.
 */
export function waitForEntry(socket, event, ms = WAIT_MS, { where = () => true, since = 0 } = {}) {
  const names = Array.isArray(event) ? event : [event];
  const match = (e) => !e.used && e.idx >= since && names.includes(e.event) && where(...e.args);
  const found = socket.log.find(match);
  if (found) {
    found.used = true;
    return Promise.resolve(found);
  }
  return new Promise((resolve, reject) => {
    const waiter = (e) => {
      if (!match(e)) return;
      e.used = true;
      clearTimeout(timer);
      socket.waiters.delete(waiter);
      resolve(e);
    };
    const timer = setTimeout(() => {
      socket.waiters.delete(waiter);
      reject(new Error(`${socket.label}: no '${names.join("' or '")}' within ${ms} ms; last events:\n    ${summary(socket)}`));
    }, ms);
    socket.waiters.add(waiter);
  });
}

/** Like `waitForEntry`, resolving with the event's first argument (its payload). */
export async function waitFor(socket, event, ms = WAIT_MS, opts = {}) {
  return (await waitForEntry(socket, event, ms, opts)).args[0];
}

/** `count` matching events, in arrival order (payloads). */
export async function collect(socket, event, count, ms = WAIT_MS, opts = {}) {
  const deadline = Date.now() + ms;
  const out = [];
  while (out.length < count) {
    out.push(await waitFor(socket, event, Math.max(1, deadline - Date.now()), opts));
  }
  return out;
}

/** Events named `event` (log entries) that arrived since `since`. */
export function received(socket, event, since = 0) {
  return socket.log.filter((e) => e.idx >= since && e.event === event);
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Listen for `ms`, then return the entries named in `events` that arrived since `since`. */
export async function quietPeriod(socket, events, since, ms = QUIET_MS) {
  await sleep(ms);
  return socket.log.filter((e) => e.idx >= since && events.includes(e.event));
}

/** Emit `joinRoom` and wait for `joinRoomSuccess` of that room; rejects on joinRoomError. */
export async function joinRoom(socket, roomId, ms = WAIT_MS) {
  const since = mark(socket);
  socket.emit('joinRoom', roomId);
  const entry = await waitForEntry(socket, ['joinRoomSuccess', 'joinRoomError'], ms, {
    since,
    where: (p) => p?.roomId === roomId || p?.roomId === undefined,
  });
  if (entry.event === 'joinRoomError') {
    throw new Error(`${socket.label}: joinRoomError ${JSON.stringify(entry.args[0])}`);
  }
  return entry.args[0];
}

/** Send a text message and wait for its own echo (the sender is a room member); returns it. */
export async function send(socket, roomId, content, ms = WAIT_MS) {
  assertClean(content);
  const since = mark(socket);
  socket.emit('chatMessage', { room: roomId, type: 'text', content });
  return waitFor(socket, 'message', ms, { since, where: (m) => m?.content === content.trim() && m?.type === 'text' });
}

/** Send and expect one `error` back; returns its payload. */
export async function sendExpectingError(socket, payload, ms = WAIT_MS) {
  const since = mark(socket);
  socket.emit('chatMessage', payload);
  return waitFor(socket, 'error', ms, { since });
}
