// REST access for the console (protocol §3): the stored session, the list of nodes,
// and requests that move to the next node when the current one does not answer or
// answers 503, so the page outlives the node that served it.

const KEY = 'chat.session';
let bases = [location.origin];
let current = 0;
let onLoggedOut = () => {};

export function session() {
  try { return JSON.parse(localStorage.getItem(KEY)); } catch { return null; }
}

export function saveSession(s) {
  localStorage.setItem(KEY, JSON.stringify(s));
}

export function clearSession() {
  localStorage.removeItem(KEY);
}

/** Called when the server says the session is gone (401 from the auth layer). */
export function whenLoggedOut(f) { onLoggedOut = f; }

/** The node list, from the node that served the page; that node first. */
export async function loadNodes() {
  try {
    const r = await fetch('/console/nodes');
    const list = (await r.json()).nodes.map((n) => n.url);
    // The page's own origin stays first: a load balancer or a host name the browser can
    // reach; the advertised addresses follow as fallbacks.
    bases = [location.origin, ...list.filter((u) => u !== location.origin)];
  } catch { /* keep the page's origin alone */ }
}

export function nodes() { return bases.slice(current).concat(bases.slice(0, current)); }
export function base() { return bases[current]; }
/** The socket moved to another node: REST follows it. */
export function useBase(url) {
  const i = bases.indexOf(url);
  if (i >= 0) current = i;
}

/** A URL with the token in the query, for <img> and links (protocol §2.1). */
export function fileUrl(path, extra = '') {
  const s = session();
  const q = s ? `token=${encodeURIComponent(s.token)}&sessionId=${encodeURIComponent(s.sessionId)}` : '';
  return `${base()}${path}?${q}${extra}`;
}

export function assetUrl(path) {
  if (!path) return '';
  return /^https?:/.test(path) ? path : base() + path;
}

/**
 * One REST call. Returns `{status, body}`; `body` is the parsed JSON or null.
 * Network errors and 503 go to the next node (up to one round over all of them).
 */
export async function request(method, path, body, { form, anonymous } = {}) {
  const s = session();
  const headers = {};
  if (s && !anonymous) {
    headers['x-auth-token'] = s.token;
    headers['x-session-id'] = s.sessionId;
  }
  let payload;
  if (form) payload = form;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let last = { status: 0, body: { message: '서버에 연결할 수 없습니다.' } };
  for (let tries = 0; tries < bases.length * 2; tries++) {
    let r;
    try {
      r = await fetch(base() + path, { method, headers, body: payload });
    } catch {
      current = (current + 1) % bases.length;
      await pause(tries);
      continue;
    }
    const text = await r.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch { parsed = null; }
    last = { status: r.status, body: parsed };
    if (r.status === 503 && !(parsed && parsed.code === 'SERVER_BUSY')) {
      current = (current + 1) % bases.length;
      await pause(tries);
      continue;
    }
    if (r.status === 401 && !text && s && !anonymous) onLoggedOut();
    return last;
  }
  return last;
}

function pause(tries) {
  return new Promise((ok) => setTimeout(ok, Math.min(150 * (tries + 1), 1000)));
}

/** The message of an error answer, or `fallback`. */
export function errorText(res, fallback) {
  const b = res.body;
  if (b && Array.isArray(b.errors) && b.errors.length) return b.errors.map((e) => e.message).join(' ');
  return (b && b.message) || fallback;
}
