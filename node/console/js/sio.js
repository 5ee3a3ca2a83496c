// A small Socket.IO client: Engine.IO v4 over one websocket (no polling), Socket.IO v5
// framing on the default namespace, text packets only (protocol §6.1).
//
// Engine.IO packets are one character of type then data: 0 open, 2 ping, 3 pong,
// 4 message. A Socket.IO packet travels inside a message: 0 CONNECT (we send the auth
// payload), 1 DISCONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR; an event is
// `2[<ack id>]["name",arg]`. The server sends the pings; we answer each with a pong.
//
// On a lost connection it reconnects by itself, to the next base URL of `bases()`
// (another node), with the same credentials, so a user never logs in again because a
// node died. A node being drained says `serverDraining` (protocol §12): the client then
// leaves it the same way. It stops for good on `close()`, or when the server refuses the
// session.

const RETRY_MS = [250, 500, 1000, 2000, 3000];

export class Socket {
  /**
   * @param {object} o
   * @param {() => string[]} o.bases base URLs to try, the preferred first
   * @param {() => object} o.auth the CONNECT auth payload `{token, sessionId}`
   * @param {(event: string, arg: any) => void} o.onEvent every server event
   * @param {(state: string, detail?: any) => void} o.onState connecting, connected, disconnected, refused, closed
   */
  constructor(o) {
    this.o = o;
    this.ws = null;
    this.closed = false;
    this.connected = false;
    this.attempt = 0;
    this.nextAck = 1;
    this.acks = new Map();
    this.queue = [];
    this.base = null;
    this.pingTimer = null;
  }

  start() {
    this.open();
  }

  close() {
    this.closed = true;
    clearTimeout(this.pingTimer);
    if (this.ws) {
      try { this.ws.send('41'); } catch { /* already gone */ }
      this.ws.close();
    }
    this.o.onState('closed');
  }

  /** Send an event; queued while disconnected, so nothing typed during a failover is lost. */
  emit(event, arg, ack) {
    let id = '';
    if (ack) {
      id = String(this.nextAck++);
      this.acks.set(id, ack);
    }
    const packet = '42' + id + JSON.stringify(arg === undefined ? [event] : [event, arg]);
    if (this.connected) this.ws.send(packet);
    else this.queue.push(packet);
  }

  open() {
    if (this.closed) return;
    const bases = this.o.bases();
    this.base = bases[this.attempt % bases.length];
    const url = this.base.replace(/^http/, 'ws') + '/socket.io/?EIO=4&transport=websocket';
    this.o.onState('connecting', this.base);
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onmessage = (e) => this.receive(String(e.data));
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      clearTimeout(this.pingTimer);
      const was = this.connected;
      this.connected = false;
      if (this.closed) return;
      this.o.onState('disconnected', this.base);
      // A connection that was up is retried on the next node at once; a failed attempt waits.
      if (was) this.attempt = this.attempt + 1;
      this.retry(was);
    };
  }

  retry(now) {
    if (this.closed) return;
    if (!now) this.attempt += 1;
    const wait = now ? 0 : RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
    setTimeout(() => this.open(), wait);
  }

  watchdog(ms) {
    // No ping within the server's interval plus timeout: the node is gone without closing.
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => { if (this.ws) this.ws.close(); }, ms);
  }

  receive(text) {
    const type = text[0];
    const data = text.slice(1);
    if (type === '0') {
      const open = JSON.parse(data);
      this.pingWindow = (open.pingInterval || 25000) + (open.pingTimeout || 20000);
      this.watchdog(this.pingWindow);
      this.ws.send('40' + JSON.stringify(this.o.auth()));
    } else if (type === '2') {
      this.ws.send('3');
      this.watchdog(this.pingWindow);
    } else if (type === '4') {
      this.packet(data);
    }
  }

  packet(data) {
    const type = data[0];
    let rest = data.slice(1);
    if (rest.startsWith('/')) rest = rest.slice(rest.indexOf(',') + 1); // a namespace other than "/"
    if (type === '0') {
      this.connected = true;
      this.attempt = 0;
      for (const p of this.queue.splice(0)) this.ws.send(p);
      this.o.onState('connected', this.base);
    } else if (type === '4') {
      const err = rest ? JSON.parse(rest) : {};
      const message = err.message || 'connect error';
      if (message === 'Service temporarily unavailable') {
        this.ws.close(); // this node cannot check sessions now: another will
        return;
      }
      this.closed = true;
      this.ws.close();
      this.o.onState('refused', message);
    } else if (type === '1') {
      // The server ended this socket (a replaced or closed session): do not come back.
      this.closed = true;
      this.ws.close();
      this.o.onState('closed');
    } else if (type === '2' || type === '3') {
      const m = /^(\d*)(\[.*)$/s.exec(rest);
      if (!m) return;
      const args = JSON.parse(m[2]);
      if (type === '3') {
        const ack = this.acks.get(m[1]);
        this.acks.delete(m[1]);
        if (ack) ack(...args);
        return;
      }
      if (m[1]) this.ws.send('43' + m[1] + '[]');
      this.o.onEvent(args[0], args[1]);
      // Dropping the connection (no DISCONNECT packet) moves it like a node failure would.
      if (args[0] === 'serverDraining' && this.ws) this.ws.close();
    }
  }
}
