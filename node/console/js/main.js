// The console's entry: the client-side router over the existing client's routes, the
// header, and the one Socket.IO connection of a logged-in page, whose events go to the
// page on screen. Session-wide events (a duplicate login, a session ended) are handled
// here, whatever page is open.

import * as api from './api.js';
import { Socket } from './sio.js';
import { h, banner, toast } from './ui.js';
import { startPage, loginPage, registerPage } from './auth.js';
import { roomListPage, newRoomPage } from './rooms.js';
import { roomPage } from './room.js';
import { profilePage } from './profile.js';
import { adminPage } from './admin.js';
import { clusterPage } from './cluster.js';

const routes = [
  [/^\/$/, startPage, false],
  [/^\/login$/, loginPage, false],
  [/^\/register$/, registerPage, false],
  [/^\/chat$/, roomListPage, true],
  [/^\/chat\/new$/, newRoomPage, true],
  [/^\/chat\/([0-9a-f]{24})$/, roomPage, true],
  [/^\/profile$/, profilePage, true],
  [/^\/admin$/, adminPage, false],
  [/^\/cluster$/, clusterPage, false],
];

let cleanup = null;
let socket = null;
let listeners = new Set();

/** What every page receives. */
export const app = {
  go(path, replace = false) {
    if (replace) history.replaceState(null, '', path);
    else history.pushState(null, '', path);
    render();
  },
  /** Subscribe to socket events while the page is shown; returns the unsubscriber. */
  listen(f) { listeners.add(f); return () => listeners.delete(f); },
  /** Without a session (it just ended) there is nobody to speak for: dropped. */
  emit(event, arg, ack) {
    if (!api.session()) return;
    ensureSocket();
    socket.emit(event, arg, ack);
  },
  connected() { return socket && socket.connected; },
  loggedIn(s) { api.saveSession(s); startSocket(); },
  async logout() {
    await api.request('POST', '/api/auth/logout');
    endSession();
    app.go('/login');
  },
  /** The session ended on the server side: no more reconnects, back to the start. */
  sessionEnded(message) {
    endSession();
    banner(message || '세션이 종료되었습니다. 다시 로그인해주세요.', { kind: 'ended', testid: 'session-ended-notice' });
    app.go('/?error=session_expired', true);
  },
};

function endSession() {
  api.clearSession();
  if (socket) { const s = socket; socket = null; s.close(); }
  header();
}

function ensureSocket() {
  if (!socket) startSocket();
}

function startSocket() {
  if (socket) socket.close();
  const s = new Socket({
    bases: () => api.nodes(),
    auth: () => { const x = api.session(); return { token: x.token, sessionId: x.sessionId }; },
    onEvent: (event, arg) => {
      if (event === 'duplicate_login') {
        banner(`다른 기기에서 로그인이 감지되었습니다 (${arg.deviceInfo || '알 수 없는 기기'}, ${arg.ipAddress || '알 수 없는 IP'}). 곧 이 세션이 종료됩니다.`, { testid: 'duplicate-login-notice' });
      } else if (event === 'serverDraining') {
        toast((arg && arg.message) || '이 서버를 점검합니다. 다른 서버로 다시 연결합니다.', 'info', 'server-draining-notice');
      } else if (event === 'session_ended') {
        app.sessionEnded(arg && arg.message);
      } else if (event === 'mention') {
        toast(`${arg.from.name}님이 ${arg.roomName}에서 회원님을 언급했습니다: ${arg.content}`, 'mention', 'mention-notification');
      }
      for (const f of listeners) f(event, arg);
    },
    onState: (state, detail) => {
      if (state === 'connected') api.useBase(detail);
      if (state === 'refused') {
        if (socket === s) app.sessionEnded(detail === 'Invalid session' ? '다른 곳에서 로그인했거나 세션이 만료되었습니다.' : detail);
        return;
      }
      connState(state, detail);
      for (const f of listeners) f(`$${state}`, detail);
    },
  });
  socket = s;
  s.start();
}

function connState(state, detail) {
  const el = document.querySelector('[data-testid="connection-status"]');
  if (!el) return;
  const text = { connecting: '연결 중…', connected: '연결됨', disconnected: '연결 끊김, 다른 서버로 재연결 중…', closed: '연결 종료' }[state] || state;
  el.textContent = detail && state !== 'closed' ? `${text} (${new URL(detail).host})` : text;
  el.className = state === 'connected' ? 'conn' : 'conn bad';
}

function header() {
  const s = api.session();
  const link = (href, text, testid) => h('a', { href, 'data-link': '', testid }, text);
  const nav = s
    ? [link('/chat', '채팅방 목록'), link('/chat/new', '새 채팅방'), link('/profile', '프로필'), link('/admin', '관리'), link('/cluster', '클러스터'),
      h('span', { class: 'muted' }, s.user && s.user.name),
      h('a', { href: '/login', testid: 'logout-link', onclick: (e) => { e.preventDefault(); app.logout(); } }, '로그아웃'),
      h('span', { class: 'conn', testid: 'connection-status', 'aria-live': 'polite' }, app.connected() ? '연결됨' : '')]
    : [link('/login', '로그인'), link('/register', '회원가입'), link('/cluster', '클러스터')];
  document.getElementById('top').replaceChildren(
    h('a', { href: '/', 'data-link': '', class: 'brand' }, '채팅'), h('nav', { 'aria-label': '메뉴' }, nav));
}

async function render() {
  if (cleanup) { try { cleanup(); } catch { /* the page is gone anyway */ } cleanup = null; }
  listeners = new Set();
  const path = location.pathname;
  const route = routes.find(([re]) => re.test(path));
  const main = document.getElementById('main');
  header();
  if (!route) {
    main.replaceChildren(h('p', {}, '페이지를 찾을 수 없습니다. ', h('a', { href: '/', 'data-link': '' }, '처음으로')));
    return;
  }
  const [re, page, needsSession] = route;
  if (needsSession && !api.session()) {
    app.go('/login', true);
    return;
  }
  if (api.session() && needsSession) ensureSocket();
  main.replaceChildren();
  cleanup = (await page(main, app, ...re.exec(path).slice(1))) || null;
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[data-link]');
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey) return;
  e.preventDefault();
  app.go(a.getAttribute('href'));
});
window.addEventListener('popstate', render);
api.whenLoggedOut(() => app.sessionEnded('세션이 만료되었습니다. 다시 로그인해주세요.'));

await api.loadNodes();
render();
