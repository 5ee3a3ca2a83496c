#!/usr/bin/env node
// End-to-end chat delivery latency: `chatMessage` emitted on one node -> `message`
// received by a member of the room connected to another node.
//
//   node tests/bench/delivery.mjs --targets http://127.0.0.1:P1,http://127.0.0.1:P2,http://127.0.0.1:P3 \
//        --users 1000 [--room-size 20] [--rate 0.5] [--duration 30s] [--senders-fraction 1]
//
// Setup: N users registered over REST (spread over the targets, 20 at a time), N/K rooms
// created, user i's socket (real socket.io-client, websocket only) connected to target
// i % targets, so the members of a room sit on different nodes; every user emits
// `joinRoom` for its room and waits for `joinRoomSuccess`. Then every sender emits
// `chatMessage` at --rate per second for --duration; the content carries the run id,
// the sender, a per-sender sequence number and the send time (this process's clock:
// performance.timeOrigin + performance.now(), so sender and receiver share one clock).
// Every receiving member records receive time - send time. The acceptance figure is
// cross-node (sender's socket and receiver's socket on different nodes); same-node
// deliveries and the sender's own echo are reported separately.
//
// Bounded: setup must finish within --max-setup (default 20 s), then --duration of
// sending, then --drain (default 5 s) for late deliveries; a watchdog ends the process
// at duration + max-setup + drain + 5 s (= duration + 30 s with the defaults) whatever
// happens. Start the cluster with CHAT_BCRYPT_COST=4: registration is bcrypt-bound.
//
// Counted: sent, expected deliveries (room members other than the sender), delivered
// by the end of the drain, lost, duplicated, out of order per (room, sender), errors
// (`error` events, connect errors, join failures, unexpected disconnects, REST
// failures). When something was lost, `losses` says on which nodes and when, and
// whether the lost messages are in the room's stored history (paged through
// `fetchPreviousMessages`). `timeline` gives the cross-node latency per second.
//
// stdout: one JSON summary. stderr: progress and one human line. Exit 0 only if nothing
// was lost, duplicated or out of order and no error happened; 1 otherwise; 2 when the
// watchdog fired.

import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { randomInt } from 'node:crypto';

// The socket.io-client 4.x installed for the conformance suite (tests/conformance).
const require = createRequire(new URL('../conformance/package.json', import.meta.url));
const { io } = require('socket.io-client');

// ---------------------------------------------------------------------------- options

function parseDuration(text, name) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(String(text).trim());
  if (!m) throw new Error(`${name}: expected a duration like 30s, 500ms or 2m, got ${JSON.stringify(text)}`);
  const v = Number(m[1]);
  return m[2] === 'ms' ? v : m[2] === 'm' ? v * 60_000 : v * 1000;
}

function parseArgs(argv) {
  const o = {
    targets: null,
    users: 100,
    roomSize: 20,
    rate: 0.5,
    durationMs: 30_000,
    sendersFraction: 1,
    maxSetupMs: 20_000,
    drainMs: 5_000,
    concurrency: 20,
    password: 'secret1',
  };
  for (let i = 0; i < argv.length; i += 1) {
    let [key, value] = argv[i].split(/=(.*)/s, 2);
    const next = () => {
      if (value !== undefined) return value;
      i += 1;
      if (i >= argv.length) throw new Error(`${key} needs a value`);
      return argv[i];
    };
    switch (key) {
      case '--targets': o.targets = next().split(',').map((t) => t.trim().replace(/\/+$/, '')).filter(Boolean); break;
      case '--users': o.users = Number.parseInt(next(), 10); break;
      case '--room-size': o.roomSize = Number.parseInt(next(), 10); break;
      case '--rate': o.rate = Number(next()); break;
      case '--duration': o.durationMs = parseDuration(next(), key); break;
      case '--senders-fraction': o.sendersFraction = Number(next()); break;
      case '--max-setup': o.maxSetupMs = parseDuration(next(), key); break;
      case '--drain': o.drainMs = parseDuration(next(), key); break;
      case '--concurrency': o.concurrency = Number.parseInt(next(), 10); break;
      case '-h': case '--help':
        process.stderr.write(
          'usage: node tests/bench/delivery.mjs --targets URL[,URL...] [--users 100] [--room-size 20]\n' +
            '       [--rate 0.5] [--duration 30s] [--senders-fraction 1] [--max-setup 20s] [--drain 5s]\n' +
            '       [--concurrency 20]\n',
        );
        process.exit(0);
      default: throw new Error(`unknown option ${key}`);
    }
  }
  if (!o.targets?.length) throw new Error('--targets is required (comma-separated public addresses)');
  for (const [k, ok] of [
    ['--users', Number.isInteger(o.users) && o.users >= 2],
    ['--room-size', Number.isInteger(o.roomSize) && o.roomSize >= 2],
    ['--rate', o.rate > 0 && o.rate <= 1000],
    ['--duration', o.durationMs > 0 && o.durationMs <= 3_600_000],
    ['--senders-fraction', o.sendersFraction > 0 && o.sendersFraction <= 1],
    ['--concurrency', Number.isInteger(o.concurrency) && o.concurrency >= 1],
  ]) if (!ok) throw new Error(`${k}: value out of range`);
  return o;
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`delivery: ${e.message}\n`);
  process.exit(64);
}

const now = () => performance.timeOrigin + performance.now();
const started = now();
const log = (msg) => process.stderr.write(`[${((now() - started) / 1000).toFixed(1).padStart(5)}s] ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ----------------------------------------------------------------------- bookkeeping

const RUN = randomInt(1, 1_000_000_000);
const errors = { rest: 0, connect_error: 0, join: 0, error_event: 0, disconnect: 0, session: 0, send_skipped: 0, aborted: 0 };
const errorSamples = [];
function recordError(kind, detail) {
  errors[kind] += 1;
  if (errorSamples.length < 20) errorSamples.push({ kind, detail: String(detail).slice(0, 300), at_s: +((now() - started) / 1000).toFixed(2) });
}

const users = []; // {i, node, name, email, token, sessionId, userId, room, socket, sender, seq, lastSeqFrom: Map, seen: Set}
const rooms = []; // {r, id, members: [userIndex]}
const userIndexById = new Map();
const sent = new Map(); // key sender*2^20+seq -> {room, at, got: 0}
let sentCount = 0;
let phase = 'setup';
const lat = { cross: [], same: [], echo: [] };
const timeline = []; // per second of the send phase (by send time): cross-node latencies
let sendStart = 0;
let delivered = 0;
let deliveredCross = 0;
let duplicated = 0;
let outOfOrder = 0;
let unexpected = 0;
let echoes = 0;
const setup = {};

// Numbers are written in groups of at most three digits, so no message holds a run of
// four or more [a-z0-9] characters: the banned-word filter (words of 4-10 such
// characters, substring match) can never reject a benchmark message.
const grouped = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, '.');
const ungroup = (s) => Number(s.replaceAll('.', ''));
const msgKey = (sender, seq) => sender * 1_048_576 + seq;

function content(sender, seq, atMs) {
  return `~${grouped(RUN)}|${grouped(sender)}|${grouped(seq)}|${grouped(Math.round(atMs * 1000))}~`;
}
const CONTENT_RE = /^~([\d.]+)\|([\d.]+)\|([\d.]+)\|([\d.]+)~$/;

// ------------------------------------------------------------------------ watchdog

const hardLimitMs = opts.maxSetupMs + opts.durationMs + opts.drainMs + 5_000;
const watchdog = setTimeout(() => {
  recordError('aborted', `watchdog: still running after ${hardLimitMs} ms (phase ${phase})`);
  finish(2);
}, hardLimitMs);

// ---------------------------------------------------------------------------- REST

async function post(base, path, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers['x-auth-token'] = token;
  const res = await fetch(base + path, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/** Run `fn(i)` for i in [0, n) with at most `limit` in flight; stops early past `deadline`. */
async function pool(n, limit, deadline, fn) {
  let next = 0;
  const worker = async () => {
    while (next < n && now() < deadline) {
      const i = next;
      next += 1;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
  return next;
}

// ------------------------------------------------------------------------- sockets

function onMessage(u, msg) {
  const at = now();
  if (!msg || msg.type !== 'text' || typeof msg.content !== 'string') return; // join/leave system messages
  const m = CONTENT_RE.exec(msg.content);
  if (!m || ungroup(m[1]) !== RUN) {
    unexpected += 1;
    return;
  }
  const sender = ungroup(m[2]);
  const seq = ungroup(m[3]);
  const sentAt = ungroup(m[4]) / 1000;
  const key = msgKey(sender, seq);
  const rec = sent.get(key);
  if (!rec || rec.room !== u.room) {
    unexpected += 1;
    return;
  }
  if (u.seen.has(key)) {
    duplicated += 1;
    return;
  }
  u.seen.add(key);
  const last = u.lastSeqFrom.get(sender) ?? -1;
  if (seq < last) outOfOrder += 1;
  else u.lastSeqFrom.set(sender, seq);
  const ms = at - sentAt;
  if (sender === u.i) {
    rec.echo = true;
    echoes += 1;
    lat.echo.push(ms);
    return;
  }
  rec.got += 1;
  delivered += 1;
  if (users[sender].node !== u.node) {
    deliveredCross += 1;
    lat.cross.push(ms);
    const sec = Math.floor((sentAt - sendStart) / 1000);
    if (sec >= 0) (timeline[sec] ??= []).push(ms);
  } else {
    lat.same.push(ms);
  }
}

function connectSocket(u) {
  return new Promise((resolve) => {
    const socket = io(opts.targets[u.node], {
      transports: ['websocket'],
      auth: { token: u.token, sessionId: u.sessionId },
      reconnection: false,
      forceNew: true,
      timeout: 10_000,
    });
    u.socket = socket;
    let settled = false;
    const done = (ok) => {
      if (!settled) {
        settled = true;
        resolve(ok);
      }
    };
    socket.on('connect', () => done(true));
    socket.on('connect_error', (err) => {
      recordError('connect_error', `user ${u.i} @${u.node}: ${err?.message}`);
      done(false);
    });
    socket.on('message', (msg) => onMessage(u, msg));
    socket.on('error', (e) => recordError('error_event', `user ${u.i} @${u.node} (${phase}): ${JSON.stringify(e)}`));
    socket.on('session_ended', (e) => recordError('session', `user ${u.i}: session_ended ${JSON.stringify(e)}`));
    socket.on('duplicate_login', (e) => recordError('session', `user ${u.i}: duplicate_login ${JSON.stringify(e)}`));
    socket.on('disconnect', (reason) => {
      if (phase !== 'closing') recordError('disconnect', `user ${u.i} @${u.node} (${phase}): ${reason}`);
      done(false);
    });
  });
}

function joinRoom(u, ms = 10_000) {
  return new Promise((resolve) => {
    const s = u.socket;
    const cleanup = () => {
      clearTimeout(timer);
      s.off('joinRoomSuccess', ok);
      s.off('joinRoomError', bad);
    };
    const ok = (p) => {
      if (p?.roomId !== rooms[u.room].id) return;
      cleanup();
      resolve(true);
    };
    const bad = (p) => {
      cleanup();
      recordError('join', `user ${u.i}: joinRoomError ${JSON.stringify(p)}`);
      resolve(false);
    };
    const timer = setTimeout(() => {
      cleanup();
      recordError('join', `user ${u.i}: no joinRoomSuccess within ${ms} ms`);
      resolve(false);
    }, ms);
    s.on('joinRoomSuccess', ok);
    s.on('joinRoomError', bad);
    s.emit('joinRoom', rooms[u.room].id);
  });
}

// --------------------------------------------------------------------------- phases

async function runSetup() {
  const deadline = started + opts.maxSetupMs;
  const T = opts.targets.length;
  const nRooms = Math.ceil(opts.users / opts.roomSize);
  for (let i = 0; i < opts.users; i += 1) {
    const room = Math.floor(i / opts.roomSize);
    users.push({
      i,
      node: i % T,
      room,
      name: `bench ${RUN} ${i}`,
      email: `bench-${RUN}-${i}@bench.local`,
      sender: Math.floor((i + 1) * opts.sendersFraction) > Math.floor(i * opts.sendersFraction),
      seq: 0,
      lastSeqFrom: new Map(),
      seen: new Set(),
    });
  }
  for (let r = 0; r < nRooms; r += 1) {
    rooms.push({ r, id: null, members: users.filter((u) => u.room === r).map((u) => u.i) });
  }

  let t = now();
  await pool(users.length, opts.concurrency, deadline, async (i) => {
    const u = users[i];
    try {
      const res = await post(opts.targets[u.node], '/api/auth/register', { name: u.name, email: u.email, password: opts.password });
      if (res.status !== 201 || !res.json?.token) throw new Error(`HTTP ${res.status} ${res.text.slice(0, 200)}`);
      u.token = res.json.token;
      u.sessionId = res.json.sessionId;
      u.userId = res.json.user?._id;
      userIndexById.set(u.userId, i);
    } catch (e) {
      recordError('rest', `register user ${i} @${u.node}: ${e.message}`);
    }
  });
  setup.register_s = +((now() - t) / 1000).toFixed(2);
  if (users.some((u) => !u.token)) throw new Error('registration incomplete');
  log(`registered ${users.length} users in ${setup.register_s} s`);

  t = now();
  await pool(rooms.length, opts.concurrency, deadline, async (r) => {
    const creator = users[rooms[r].members[0]];
    try {
      const res = await post(opts.targets[creator.node], '/api/rooms', { name: `bench ${RUN} room ${r}` }, creator.token);
      if (res.status !== 201 || !res.json?.data?._id) throw new Error(`HTTP ${res.status} ${res.text.slice(0, 200)}`);
      rooms[r].id = res.json.data._id;
    } catch (e) {
      recordError('rest', `create room ${r} @${creator.node}: ${e.message}`);
    }
  });
  setup.rooms_s = +((now() - t) / 1000).toFixed(2);
  if (rooms.some((r) => !r.id)) throw new Error('room creation incomplete');
  log(`created ${rooms.length} rooms in ${setup.rooms_s} s`);

  t = now();
  let connected = 0;
  await pool(users.length, Math.max(opts.concurrency, 50), deadline, async (i) => {
    if (await connectSocket(users[i])) connected += 1;
  });
  setup.connect_s = +((now() - t) / 1000).toFixed(2);
  if (connected !== users.length) throw new Error(`only ${connected}/${users.length} sockets connected`);
  log(`connected ${connected} sockets in ${setup.connect_s} s`);

  t = now();
  let joined = 0;
  await pool(users.length, Math.max(opts.concurrency, 50), deadline, async (i) => {
    if (await joinRoom(users[i], Math.max(1000, Math.min(10_000, deadline - now())))) joined += 1;
  });
  setup.join_s = +((now() - t) / 1000).toFixed(2);
  if (joined !== users.length) throw new Error(`only ${joined}/${users.length} users joined their room`);
  log(`joined ${joined} users to their rooms in ${setup.join_s} s`);
  await sleep(Math.min(1000, Math.max(0, deadline - now()))); // let the last join broadcasts settle
}

async function runSend() {
  phase = 'send';
  const intervalMs = 1000 / opts.rate;
  const t0 = now();
  sendStart = t0;
  setup.send_started_at = new Date(t0).toISOString();
  const end = t0 + opts.durationMs;
  const senders = users.filter((u) => u.sender);
  await Promise.all(
    senders.map(
      (u) =>
        new Promise((resolve) => {
          const offset = Math.random() * intervalMs;
          let k = 0;
          const tick = () => {
            const at = now();
            if (at >= end) return resolve();
            if (u.socket.connected) {
              const seq = u.seq;
              u.seq += 1;
              sent.set(msgKey(u.i, seq), { room: u.room, at, got: 0 });
              sentCount += 1;
              u.socket.emit('chatMessage', { room: rooms[u.room].id, type: 'text', content: content(u.i, seq, at) });
            } else {
              recordError('send_skipped', `user ${u.i}: socket not connected at send time`);
            }
            k += 1;
            const due = t0 + offset + k * intervalMs;
            if (due >= end) return resolve();
            setTimeout(tick, Math.max(0, due - now()));
          };
          setTimeout(tick, offset);
        }),
    ),
  );
  setup.send_s = +((now() - t0) / 1000).toFixed(2);
  log(`sent ${sentCount} messages in ${setup.send_s} s from ${senders.length} senders`);
}

async function runDrain() {
  phase = 'drain';
  const end = now() + opts.drainMs;
  while (now() < end) {
    let missing = 0;
    for (const rec of sent.values()) missing += rooms[rec.room].members.length - 1 - rec.got;
    if (missing === 0) break;
    await sleep(100);
  }
  cutoff = deliveryCounts();
}

/** Expected and received deliveries (members other than the sender) so far. */
function deliveryCounts() {
  let expected = 0;
  let got = 0;
  for (const rec of sent.values()) {
    expected += rooms[rec.room].members.length - 1;
    got += rec.got;
  }
  return { expected, got };
}

// Where the losses are: by receiving and sending node, by second of the send phase,
// messages nobody got (not even the sender's echo) versus partly delivered ones.
let lossReport = null;
let cutoff = null; // deliveries counted at the end of the drain: what arrives later is lost
function analyseLosses() {
  const T = opts.targets.length;
  const r = {
    by_receiver_node: Array(T).fill(0),
    by_sender_node: Array(T).fill(0),
    by_second: {},
    messages_partly_lost: 0,
    messages_lost_entirely: 0,
    samples: [],
  };
  const lostKeys = new Map(); // room -> [key]
  for (const [key, rec] of sent) {
    const sender = Math.floor(key / 1_048_576);
    const missing = rooms[rec.room].members.filter((m) => m !== sender && !users[m].seen.has(key));
    if (missing.length === 0) continue;
    if (missing.length === rooms[rec.room].members.length - 1 && !rec.echo) r.messages_lost_entirely += 1;
    else r.messages_partly_lost += 1;
    for (const m of missing) r.by_receiver_node[users[m].node] += 1;
    r.by_sender_node[users[sender].node] += missing.length;
    const sec = Math.floor((rec.at - sendStart) / 1000);
    r.by_second[sec] = (r.by_second[sec] ?? 0) + missing.length;
    if (r.samples.length < 10) {
      r.samples.push({ sender, sender_node: users[sender].node, seq: key % 1_048_576, at_s: +((rec.at - sendStart) / 1000).toFixed(3), echo: !!rec.echo, missing_on_nodes: [...new Set(missing.map((m) => users[m].node))] });
    }
    (lostKeys.get(rec.room) ?? lostKeys.set(rec.room, []).get(rec.room)).push(key);
  }
  return { r, lostKeys };
}

/** For rooms with losses: are the lost messages in the room's stored history? */
async function checkHistory(lostKeys, budgetMs) {
  const deadline = now() + budgetMs;
  const out = { rooms_checked: 0, lost_messages: 0, in_history: 0, not_in_history: 0, unanswered_rooms: 0, checked_on_nodes: opts.targets.map(() => 0), not_in_history_samples: [] };
  await Promise.all(
    [...lostKeys].map(async ([room, keys]) => {
      const u = users[rooms[room].members.find((m) => users[m].socket?.connected) ?? rooms[room].members[0]];
      // History pages hold at most 100 messages (the server's cap): walk back with `before`.
      const fetchPage = (before) =>
        new Promise((resolve) => {
          const s = u.socket;
          const done = (v) => {
            clearTimeout(timer);
            s.off('previousMessagesLoaded', ok);
            resolve(v);
          };
          const ok = (p) => done(p ?? { messages: [], hasMore: false });
          const timer = setTimeout(() => done(null), Math.max(0, deadline - now()));
          s.on('previousMessagesLoaded', ok);
          s.emit('fetchPreviousMessages', { roomId: rooms[room].id, limit: 100, ...(before ? { before } : {}) });
        });
      // `before` is strict, so the next page starts at the oldest millisecond seen again
      // (messages sharing it across a page boundary are not skipped); ids de-duplicate.
      let history = new Map();
      let before = 0;
      for (let page = 0; page < 50; page += 1) {
        const got = await fetchPage(before);
        if (got === null) {
          history = null;
          break;
        }
        const msgs = got.messages ?? [];
        const fresh = msgs.filter((m) => !history.has(m._id));
        for (const m of msgs) history.set(m._id, m);
        if (!got.hasMore || msgs.length === 0) break;
        const oldest = Math.min(...msgs.map((m) => m.timestamp));
        before = fresh.length > 0 && oldest + 1 < (before || Infinity) ? oldest + 1 : oldest;
      }
      out.checked_on_nodes[u.node] += 1;
      out.rooms_checked += 1;
      out.lost_messages += keys.length;
      if (history === null) {
        out.unanswered_rooms += 1;
        return;
      }
      const stored = new Set();
      for (const msg of history.values()) {
        const m = typeof msg?.content === 'string' && CONTENT_RE.exec(msg.content);
        if (m && ungroup(m[1]) === RUN) stored.add(msgKey(ungroup(m[2]), ungroup(m[3])));
      }
      for (const k of keys) {
        if (stored.has(k)) out.in_history += 1;
        else {
          out.not_in_history += 1;
          if (out.not_in_history_samples.length < 5) out.not_in_history_samples.push({ sender: Math.floor(k / 1_048_576), seq: k % 1_048_576 });
        }
      }
    }),
  );
  return out;
}

async function runLossCheck() {
  const { r, lostKeys } = analyseLosses();
  if (lostKeys.size === 0) return;
  lossReport = r;
  phase = 'history-check';
  // Within the watchdog's bound: at most 4 s, and 1 s short of the hard limit.
  const budget = Math.min(4_000, started + hardLimitMs - 1_000 - now());
  if (budget > 500) lossReport.history = await checkHistory(lostKeys, budget);
}

// --------------------------------------------------------------------------- report

function stats(values) {
  if (values.length === 0) return { count: 0, p50: null, p95: null, p99: null, max: null };
  const v = Float64Array.from(values).sort();
  const q = (p) => +v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))].toFixed(2);
  return { count: v.length, p50: q(0.5), p95: q(0.95), p99: q(0.99), max: +v[v.length - 1].toFixed(2) };
}

// The load generator's own event-loop lag (how late a 20 ms timer fires): a receive
// time stamped late by a busy loop inflates the measured latency by up to this much.
const lags = [];
let lagExpected = now() + 20;
const lagTimer = setInterval(() => {
  const t = now();
  lags.push(Math.max(0, t - lagExpected));
  lagExpected = t + 20;
}, 20);
lagTimer.unref();
const cpuStart = process.cpuUsage();

let finished = false;
function finish(code) {
  if (finished) return;
  finished = true;
  clearTimeout(watchdog);
  clearInterval(lagTimer);
  phase = 'closing';
  const final = deliveryCounts();
  const { expected, got } = cutoff ?? final;
  const cpu = process.cpuUsage(cpuStart);
  const wallMs = now() - started;
  const errorTotal = Object.values(errors).reduce((a, b) => a + b, 0);
  const summary = {
    users: opts.users,
    rooms: rooms.length,
    room_size: opts.roomSize,
    targets: opts.targets,
    rate_per_sender: opts.rate,
    duration_s: opts.durationMs / 1000,
    senders: users.filter((u) => u.sender).length,
    sent: sentCount,
    expected,
    delivered: got,
    delivered_cross_node: deliveredCross,
    lost: expected - got,
    duplicated,
    out_of_order: outOfOrder,
    errors: errorTotal,
    latency_ms: stats(lat.cross),
    latency_ms_same_node: stats(lat.same),
    self_echo_ms: { ...stats(lat.echo), missing: sentCount - echoes },
    unexpected_messages: unexpected,
    losses: lossReport,
    delivered_after_drain: final.got - got,
    error_counts: errors,
    error_samples: errorSamples,
    phases_s: setup,
    loadgen: {
      cpu_pct_of_one_core: +(((cpu.user + cpu.system) / 1000 / wallMs) * 100).toFixed(1),
      event_loop_lag_ms: (({ p50, p99, max }) => ({ p50, p99, max }))(stats(lags)),
    },
    wall_s: +(wallMs / 1000).toFixed(2),
    // cross-node latency by second of the send phase (by send time)
    timeline: Array.from(timeline, (v, sec) => {
      const st = stats(v ?? []);
      return `${String(sec).padStart(3)}s n=${st.count} p50=${st.p50} p99=${st.p99} max=${st.max}`;
    }),
  };
  const ok = code === 0 && summary.lost === 0 && duplicated === 0 && outOfOrder === 0 && errorTotal === 0 && sentCount > 0;
  process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  const l = summary.latency_ms;
  process.stderr.write(
    `delivery: ${opts.users} users, ${rooms.length} rooms, sent ${sentCount}, delivered ${got}/${expected}` +
      ` (lost ${summary.lost}, dup ${duplicated}, ooo ${outOfOrder}, errors ${errorTotal});` +
      ` cross-node p50 ${l.p50} ms, p95 ${l.p95} ms, p99 ${l.p99} ms, max ${l.max} ms` +
      ` -> ${ok ? 'OK' : 'FAIL'}\n`,
  );
  for (const u of users) u.socket?.disconnect();
  // Exit once stdout is flushed; never wait on anything else.
  process.stdout.write('', () => process.exit(code !== 0 ? code : ok ? 0 : 1));
  setTimeout(() => process.exit(code !== 0 ? code : ok ? 0 : 1), 2_000).unref();
}

try {
  await runSetup();
  await runSend();
  await runDrain();
  await runLossCheck();
  finish(0);
} catch (e) {
  recordError('aborted', `setup/run aborted (${phase}): ${e.message}`);
  finish(1);
}
