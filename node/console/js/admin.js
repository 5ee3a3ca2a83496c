// The admin page (`/admin`): served to anyone, asks for an admin login, then uses the
// admin API under `/api/admin/`: users with search, filters and paging; role change;
// ban, mute, unban and forced logout with a reason, a duration and a confirmation;
// deleting a room or a message by id; the audit log. Every refusal shows the API's own
// message (a 404 from a server without the admin API says so).

import * as api from './api.js';
import { h, toast, confirmDialog, dateText } from './ui.js';

const PAGE_SIZE = 20;

export function adminPage(main) {
  main.append(h('h1', {}, '관리'));
  if (!api.session()) {
    main.append(h('p', { testid: 'admin-login-required' }, '관리자 계정으로 ',
      h('a', { href: '/login?next=/admin', 'data-link': '' }, '로그인'), '하세요.'));
    return;
  }
  const error = h('p', { class: 'error', role: 'alert', testid: 'admin-error', hidden: true });
  const show = (res, fallback) => {
    error.textContent = res.status === 404 && !(res.body && res.body.message)
      ? '관리 API가 이 서버에 없습니다 (404).' : api.errorText(res, `${fallback} (${res.status})`);
    error.hidden = false;
  };
  main.append(error);
  // A sanction shows up in the audit log at once: the users section asks it to reload.
  const audit = { reload: () => {} };
  usersSection(main, show, () => { error.hidden = true; }, () => audit.reload());
  deletionSection(main, show);
  audit.reload = auditSection(main, show);
}

function usersSection(main, show, clear, changed) {
  let page = 0;
  const search = h('input', { type: 'search', placeholder: '이름 또는 이메일', 'aria-label': '사용자 검색', testid: 'admin-user-search-input' });
  const role = h('select', { 'aria-label': '역할', testid: 'admin-role-filter' }, h('option', { value: '' }, '모든 역할'), h('option', { value: 'user' }, '사용자'), h('option', { value: 'admin' }, '관리자'));
  const status = h('select', { 'aria-label': '상태', testid: 'admin-status-filter' }, h('option', { value: '' }, '모든 상태'), h('option', { value: 'active' }, '활성'), h('option', { value: 'banned' }, '차단'), h('option', { value: 'muted' }, '음소거'));
  const rows = h('tbody');
  const info = h('span', { class: 'muted' });
  const prev = h('button', { class: 'ghost', onclick: () => { page--; load(); } }, '이전');
  const next = h('button', { class: 'ghost', onclick: () => { page++; load(); } }, '다음');

  async function load() {
    const q = new URLSearchParams({ page, pageSize: PAGE_SIZE });
    if (search.value.trim()) q.set('search', search.value.trim());
    if (role.value) q.set('role', role.value);
    if (status.value) q.set('status', status.value);
    const res = await api.request('GET', `/api/admin/users?${q}`);
    if (res.status !== 200) { show(res, '사용자 목록을 불러오지 못했습니다.'); return; }
    clear();
    const users = res.body.data || res.body.users || [];
    const meta = res.body.metadata || res.body.meta || {};
    rows.replaceChildren(...users.map((u) => userRow(u, () => { load(); changed(); }, show)));
    if (!users.length) rows.append(h('tr', {}, h('td', { colspan: 6, class: 'muted' }, '사용자가 없습니다.')));
    const pages = meta.totalPages || 1;
    info.textContent = `${meta.total ?? users.length}명 · ${page + 1} / ${pages} 페이지`;
    prev.disabled = page === 0;
    next.disabled = !(meta.hasMore ?? page + 1 < pages);
  }
  let timer;
  search.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => { page = 0; load(); }, 250); });
  role.addEventListener('change', () => { page = 0; load(); });
  status.addEventListener('change', () => { page = 0; load(); });
  main.append(h('section', { class: 'card', 'aria-label': '사용자' },
    h('h2', { style: 'font-size:18px;margin-top:0' }, '사용자'),
    h('div', { class: 'row' }, search, role, status),
    h('div', { style: 'overflow-x:auto' }, h('table', {},
      h('thead', {}, h('tr', {}, ['이름', '이메일', '역할', '상태', '작업'].map((t) => h('th', {}, t)))), rows)),
    h('div', { class: 'row' }, prev, info, next)));
  load();
}

function userState(u) {
  const until = (s) => (s && s.until ? `${dateText(s.until)}까지` : '무기한');
  if (u.banned) return `차단 (${until(u.ban)}${u.ban && u.ban.reason ? `, ${u.ban.reason}` : ''})`;
  if (u.muted) return `음소거 (${until(u.mute)})`;
  return u.online ? '활성 · 접속 중' : '활성';
}

function userRow(u, reload, show) {
  const id = u.id || u._id;
  const act = async (question, method, path, body, done) => {
    if (!(await confirmDialog(question))) return;
    const res = await api.request(method, path, body);
    if (res.status >= 200 && res.status < 300) { toast((res.body && res.body.message) || done, 'success'); reload(); } else show(res, '작업에 실패했습니다.');
  };
  const roleSelect = h('select', { 'aria-label': `${u.name} 역할`, testid: 'admin-role-select' },
    h('option', { value: 'user', selected: u.role !== 'admin' }, '사용자'), h('option', { value: 'admin', selected: u.role === 'admin' }, '관리자'));
  roleSelect.addEventListener('change', () => act(`${u.name}의 역할을 "${roleSelect.value}"(으)로 바꿀까요?`, 'PUT', `/api/admin/users/${id}/role`, { role: roleSelect.value }, '역할을 바꿨습니다.'));
  const withReason = async (title, needMinutes, send) => {
    const values = await askReason(title, needMinutes);
    if (values) send(values);
  };
  return h('tr', { testid: 'admin-user-row', 'data-user-id': id, 'data-email': u.email, 'data-banned': String(!!u.banned) },
    h('td', {}, u.name), h('td', {}, u.email), h('td', {}, roleSelect), h('td', { testid: 'admin-user-state' }, userState(u)),
    h('td', {}, h('div', { class: 'row' },
      h('button', { class: 'danger', testid: 'admin-ban-button', onclick: () => withReason(`${u.name} 차단`, false, (v) =>
        act(`${u.name}을(를) 차단할까요? 세션이 즉시 종료됩니다.`, 'POST', `/api/admin/users/${id}/ban`, v.minutes ? { reason: v.reason, minutes: v.minutes } : { reason: v.reason }, '차단했습니다.')) }, '차단'),
      h('button', { class: 'ghost', testid: 'admin-unban-button', onclick: () => act(`${u.name}의 차단을 풀까요?`, 'POST', `/api/admin/users/${id}/unban`, {}, '차단을 해제했습니다.') }, '차단 해제'),
      h('button', { class: 'ghost', testid: 'admin-mute-button', onclick: () => withReason(`${u.name} 음소거`, true, (v) =>
        act(`${u.name}을(를) ${v.minutes}분 동안 음소거할까요?`, 'POST', `/api/admin/users/${id}/mute`, { minutes: v.minutes, reason: v.reason }, '음소거했습니다.')) }, '음소거'),
      h('button', { class: 'ghost', testid: 'admin-logout-button', onclick: () => act(`${u.name}을(를) 강제 로그아웃할까요?`, 'POST', `/api/admin/users/${id}/logout`, {}, '로그아웃시켰습니다.') }, '강제 로그아웃'))));
}

/** A small form for a reason and a duration in minutes (optional unless `needMinutes`). */
function askReason(title, needMinutes) {
  return new Promise((resolve) => {
    const reason = h('input', { type: 'text', required: true, testid: 'admin-reason-input' });
    const minutes = h('input', { type: 'number', min: 1, required: needMinutes, testid: 'admin-minutes-input', placeholder: needMinutes ? '' : '비우면 무기한' });
    const done = (v) => { d.remove(); resolve(v); };
    const d = h('div', { class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-label': title },
      h('form', { class: 'stack', onsubmit: (e) => {
        e.preventDefault();
        const m = parseInt(minutes.value, 10);
        done({ reason: reason.value.trim(), minutes: Number.isFinite(m) && m > 0 ? m : undefined });
      } }, h('h2', { style: 'font-size:18px;margin:0' }, title), h('label', {}, '사유', reason), h('label', {}, '기간 (분)', minutes),
      h('div', { class: 'row' }, h('button', { type: 'submit', testid: 'admin-reason-submit' }, '계속'), h('button', { type: 'button', class: 'ghost', onclick: () => done(null) }, '취소'))));
    d.addEventListener('keydown', (e) => { if (e.key === 'Escape') done(null); });
    document.body.append(d);
    reason.focus();
  });
}

function deletionSection(main, show) {
  const form = (label, testid, kind, path) => {
    const id = h('input', { type: 'text', pattern: '[0-9a-f]{24}', required: true, 'aria-label': label, placeholder: label, testid: `${testid}-input` });
    return h('form', { class: 'row', onsubmit: async (e) => {
      e.preventDefault();
      if (!(await confirmDialog(`${kind} ${id.value}을(를) 삭제할까요? 되돌릴 수 없습니다.`, '삭제'))) return;
      const res = await api.request('DELETE', `${path}/${id.value}`);
      if (res.status >= 200 && res.status < 300) { toast((res.body && res.body.message) || '삭제했습니다.', 'success'); id.value = ''; } else show(res, '삭제하지 못했습니다.');
    } }, id, h('button', { type: 'submit', class: 'danger', testid: `${testid}-button` }, `${kind} 삭제`));
  };
  main.append(h('section', { class: 'card', 'aria-label': '삭제' }, h('h2', { style: 'font-size:18px;margin-top:0' }, '채팅방 · 메시지 삭제'),
    form('채팅방 ID', 'admin-delete-room', '채팅방', '/api/admin/rooms'),
    form('메시지 ID', 'admin-delete-message', '메시지', '/api/admin/messages')));
}

function actionName(action) {
  return { set_role: '역할 변경', ban: '차단', unban: '차단 해제', mute: '음소거', unmute: '음소거 해제', logout: '강제 로그아웃', delete_user: '계정 삭제' }[action] || action || '';
}

function auditSection(main, show) {
  let page = 0;
  const rows = h('tbody');
  const more = h('button', { class: 'ghost', onclick: () => { page++; load(); } }, '더 보기');
  async function load() {
    const res = await api.request('GET', `/api/admin/audit?page=${page}&pageSize=${PAGE_SIZE}`);
    if (res.status !== 200) { show(res, '감사 기록을 불러오지 못했습니다.'); return; }
    const entries = res.body.data || res.body.entries || [];
    if (page === 0) rows.replaceChildren();
    for (const e of entries) {
      const at = e.at || e.timestamp || e.createdAt;
      const target = e.target && typeof e.target === 'object' ? (e.target.email || e.target.id) : (e.target || '');
      const detail = [e.reason, e.role ? `역할: ${e.role}` : '', e.until ? `${dateText(e.until)}까지` : ''].filter(Boolean).join(' · ');
      rows.append(h('tr', { testid: 'admin-audit-row', 'data-action': e.action || '' },
        h('td', {}, at ? (typeof at === 'number' ? new Date(at).toLocaleString('ko-KR') : dateText(at)) : ''),
        h('td', {}, (e.actor && (e.actor.name || e.actor.email)) || ''),
        h('td', {}, actionName(e.action)), h('td', {}, target), h('td', {}, detail)));
    }
    const meta = res.body.metadata || {};
    more.disabled = !(meta.hasMore ?? entries.length === PAGE_SIZE);
  }
  main.append(h('section', { class: 'card', 'aria-label': '감사 기록' }, h('h2', { style: 'font-size:18px;margin-top:0' }, '감사 기록'),
    h('div', { style: 'overflow-x:auto' }, h('table', { testid: 'admin-audit-table' }, h('thead', {}, h('tr', {}, ['시각', '관리자', '작업', '대상', '사유'].map((t) => h('th', {}, t)))), rows)), more));
  load();
  return () => { page = 0; load(); };
}
