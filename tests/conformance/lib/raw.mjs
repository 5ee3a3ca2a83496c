// Raw Engine.IO/Socket.IO wire access: a plain WebSocket (the `ws` package) to
// /socket.io/?EIO=4&transport=websocket, for checking exact packets and for feeding a
// node frames no well-behaved client would send.

import WebSocket from 'ws';
import { createHmac } from 'node:crypto';

/** Open a raw Engine.IO websocket to `node`; resolves once open. */
export function rawSocket(node, ms = 5_000) {
  const url = node.url.replace(/^http/, 'ws') + '/socket.io/?EIO=4&transport=websocket';
  const ws = new WebSocket(url, { handshakeTimeout: ms, maxPayload: 1 << 24 });
  const frames = [];
  const waiters = new Set();
  let closed = false;
  ws.on('message', (data, isBinary) => {
    const frame = isBinary ? data : data.toString('utf8');
    frames.push(frame);
    for (const w of [...waiters]) w();
  });
  ws.on('close', () => {
    closed = true;
    for (const w of [...waiters]) w();
  });
  ws.on('error', () => {}); // a node closing on garbage is allowed; 'close' follows
  const conn = {
    ws,
    frames,
    get closed() {
      return closed;
    },
    /** The first frame (from index `since`) satisfying `pred`, or reject after `ms`. */
    frame(pred, ms = 5_000, since = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const f = frames.slice(since).find((x) => typeof x === 'string' && pred(x));
          if (f !== undefined) {
            done();
            resolve(f);
          } else if (closed) {
            done();
            reject(new Error(`raw socket closed; frames: ${JSON.stringify(frames).slice(0, 300)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no matching frame within ${ms} ms; frames: ${JSON.stringify(frames).slice(0, 300)}`));
        }, ms);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    send(data) {
      if (ws.readyState === WebSocket.OPEN) ws.send(data);
    },
    close() {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.terminate();
    },
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(conn));
    ws.once('error', reject);
  });
}

/** An HS256 JWT with these claims, signed with `secret` (a key the cluster does not know). */
export function foreignJwt(claims, secret = 'not-the-cluster-key-not-the-cluster-key') {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = b64({ alg: 'HS256', typ: 'JWT' });
  const body = b64(claims);
  const sig = createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

/** The claims of a compact JWT (unverified). */
export function jwtClaims(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}
