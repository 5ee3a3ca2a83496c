// The room list with search and paging, live new rooms (`roomCreated`), and the
// create-room form (protocol §3.5).

import * as api from './api.js';
import { h, toast, dateText } from './ui.js';

const PAGE_SIZE = 10;

export function roomListPage(main, app) {
  let page = 0;
  let search = '';
  const list = h('ul', { class: 'plain rooms', testid: 'chat-room-list' });
  const info = h('span', { class: 'muted', 'aria-live': 'polite' });
  const prev = h('button', { class: 'ghost', onclick: () => { page--; load(); } }, '이전');
  const next = h('button', { class: 'ghost', onclick: () => { page++; load(); } }, '다음');
  const query = h('input', { type: 'search', placeholder: '채팅방 검색', 'aria-label': '채팅방 검색', testid: 'chat-room-search-input' });
  let timer;
  query.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => { search = query.value.trim(); page = 0; load(); }, 250); });

  async function load() {
    const q = new URLSearchParams({ page, pageSize: PAGE_SIZE, sortField: 'createdAt', sortOrder: 'desc' });
    if (search) q.set('search', search);
    const res = await api.request('GET', `/api/rooms?${q}`);
    if (res.status !== 200) { toast(api.errorText(res, '채팅방 목록을 불러오지 못했습니다.'), 'error'); return; }
    const { data, metadata } = res.body;
    list.replaceChildren(...data.map((room) => item(room, app)));
    if (!data.length) list.append(h('li', { class: 'muted' }, search ? '검색 결과가 없습니다.' : '채팅방이 없습니다. 새 채팅방을 만들어 보세요.'));
    info.textContent = `${metadata.total}개 중 ${metadata.page + 1} / ${Math.max(metadata.totalPages, 1)} 페이지`;
    prev.disabled = page === 0;
    next.disabled = !metadata.hasMore;
  }

  main.append(h('div', { class: 'card' },
    h('div', { class: 'row' }, h('h1', { style: 'margin:0 auto 0 0' }, '채팅방 목록'), query,
      h('a', { href: '/chat/new', 'data-link': '' }, '새 채팅방')),
    list, h('div', { class: 'row' }, prev, info, next)));
  load();
  return app.listen((event, room) => {
    if (event === 'roomCreated' && page === 0 && !search) load();
    if (event === 'roomUpdated' && room) {
      const li = list.querySelector(`[data-room="${room._id}"]`);
      if (li) li.replaceWith(item(room, app));
    }
  });
}

function item(room, app) {
  const join = async () => {
    let body = {};
    if (room.hasPassword) {
      const password = prompt(`"${room.name}" 채팅방의 비밀번호를 입력하세요.`);
      if (password === null) return;
      body = { password };
    }
    const res = await api.request('POST', `/api/rooms/${room._id}/join`, body);
    if (res.status === 200) app.go(`/chat/${room._id}`);
    else toast(api.errorText(res, '채팅방 참여에 실패했습니다.'), 'error');
  };
  const count = room.participantsCount ?? (room.participants || []).length;
  return h('li', { 'data-room': room._id },
    h('div', {}, h('strong', {}, room.name, room.hasPassword ? ' 🔒' : ''),
      h('div', { class: 'muted' }, `참여자 ${count}명 · 최근 메시지 ${room.recentMessageCount || 0}개 · ${dateText(room.createdAt)}`)),
    h('button', { testid: 'join-chat-room-button', onclick: join, 'aria-label': `${room.name} 참여` }, '참여'));
}

export function newRoomPage(main, app) {
  const name = h('input', { type: 'text', required: true, minlength: 2, maxlength: 100, testid: 'chat-room-name-input' });
  const password = h('input', { type: 'password', autocomplete: 'new-password', testid: 'chat-room-password-input' });
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', testid: 'create-chat-room-button' }, '채팅방 만들기');
  main.append(h('h1', {}, '새 채팅방'), h('form', { class: 'stack card', onsubmit: async (e) => {
    e.preventDefault();
    submit.disabled = true;
    const res = await api.request('POST', '/api/rooms', { name: name.value, password: password.value });
    submit.disabled = false;
    if (res.status === 201) app.go(`/chat/${res.body.data._id}`);
    else { error.textContent = api.errorText(res, '채팅방 생성에 실패했습니다.'); error.hidden = false; }
  } }, h('label', {}, '채팅방 이름', name), h('label', {}, '비밀번호 (선택)', password), error, submit));
  name.focus();
}
