// The chat room (protocol §6.5): joining over the socket, history on scroll-up, live
// messages, read marks, reactions, files, participants with their online state (polled
// from `GET /api/rooms/<id>/presence`, and re-read whenever the participants change);
// after a reconnect (to this or another node) it joins again and reads back what it
// missed, merging by `_id`.

import * as api from './api.js';
import { h, toast } from './ui.js';
import { renderMessage } from './messages.js';

const PAGE = 30;
const PRESENCE_POLL_MS = 3000;

export async function roomPage(main, app, roomId) {
  const me = (() => { const s = api.session(); return { id: s.user._id || s.user.id, name: s.user.name }; })();
  const res = await api.request('GET', `/api/rooms/${roomId}`);
  if (res.status !== 200) {
    main.append(h('p', { class: 'error', role: 'alert' }, api.errorText(res, '채팅방을 찾을 수 없습니다.')));
    return undefined;
  }
  const room = res.body.data;
  const byId = new Map();
  let order = [];
  let participants = room.participants || [];
  let online = null; // Set of user ids, once the presence answered
  let presenceTimer = null;
  let gone = false;
  let hasMore = true;
  // Kinds of the history requests in flight, answered in order on one socket:
  // 'first' | 'older' | 'catch-up'.
  const loads = [];
  let joined = false;
  let joining = false;
  let everJoined = false;
  let newestBeforeGap = 0;

  const list = h('div', { class: 'messages', testid: 'chat-messages-container', tabindex: '0', role: 'log', 'aria-label': '메시지' });
  const historyEnd = h('div', { class: 'msg system', testid: 'message-history-end', hidden: true }, '대화의 처음입니다.');
  const input = h('input', { type: 'text', placeholder: '메시지를 입력하세요 (@이름으로 언급)', 'aria-label': '메시지', testid: 'chat-message-input', maxlength: 10000 });
  const send = h('button', { type: 'submit', testid: 'chat-send-button' }, '보내기');
  const fileInput = h('input', { type: 'file', testid: 'file-upload-input', 'aria-label': '파일 첨부', accept: 'image/*,video/*,audio/*,.pdf,.doc,.docx' });
  const people = h('ul', { class: 'plain', testid: 'participant-list' });
  const status = h('p', { class: 'muted', 'aria-live': 'polite' }, '입장 중…');

  const ctx = { me, get participants() { return participants; }, react };
  function react(messageId, emoji, type) { app.emit('messageReaction', { messageId, reaction: emoji, type }); }

  function redraw(id) {
    const m = byId.get(id);
    const old = list.querySelector(`[data-id="${id}"]`);
    if (m && old) old.replaceWith(renderMessage(m, ctx));
  }
  function redrawMine() { for (const id of order) { const m = byId.get(id); if (m.sender && m.sender.id === me.id) redraw(id); } }

  function merge(messages) {
    let added = false;
    for (const m of messages) {
      if (byId.has(m._id)) { byId.set(m._id, { ...byId.get(m._id), ...m, readers: m.readers || byId.get(m._id).readers }); redraw(m._id); continue; }
      byId.set(m._id, m);
      added = true;
    }
    if (added) {
      order = [...byId.values()].sort((a, b) => a.timestamp - b.timestamp).map((m) => m._id);
      list.replaceChildren(historyEnd, ...order.map((id) => renderMessage(byId.get(id), ctx)));
    }
    historyEnd.hidden = hasMore;
  }

  const nearBottom = () => list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  const toBottom = () => { list.scrollTop = list.scrollHeight; };

  let markTimer = null;
  function markRead() {
    clearTimeout(markTimer);
    markTimer = setTimeout(() => {
      if (document.hidden || !joined) return;
      const ids = order.filter((id) => { const m = byId.get(id); return m.sender && m.sender.id !== me.id && !(m.readers || []).some((r) => r.userId === me.id); });
      if (!ids.length) return;
      app.emit('markMessagesAsRead', { roomId, messageIds: ids });
      for (const id of ids) { const m = byId.get(id); m.readers = [...(m.readers || []), { userId: me.id, readAt: Date.now() }]; }
    }, 200);
  }

  function fetchPage(kind, before) {
    loads.push(kind);
    app.emit('fetchPreviousMessages', before ? { roomId, limit: PAGE, before } : { roomId, limit: PAGE });
  }

  function join() {
    if (joining) return;
    joining = true;
    status.textContent = '입장 중…';
    app.emit('joinRoom', roomId);
  }

  function drawPeople() {
    people.replaceChildren(...participants.map((p) => {
      const on = online ? online.has(p.id) : p.id === me.id;
      const state = online ? (on ? '온라인' : '오프라인') : '확인 중';
      return h('li', { testid: 'participant', 'data-user-id': p.id, 'data-online': online ? String(on) : 'unknown' },
        h('span', { class: `dot${on ? ' on' : ''}`, 'aria-hidden': 'true' }), p.name, p.id === me.id ? ' (나)' : '',
        h('span', { class: 'visually-hidden' }, ` (${state})`));
    }));
  }

  // One presence request at a time; a change while one is out asks for another after it.
  let presenceBusy = false;
  let presenceAgain = false;
  async function readPresence() {
    if (presenceBusy) { presenceAgain = true; return; }
    presenceBusy = true;
    clearTimeout(presenceTimer);
    const res = await api.request('GET', `/api/rooms/${roomId}/presence`);
    presenceBusy = false;
    if (gone) return;
    if (res.status === 200 && res.body && res.body.data) {
      online = new Set(res.body.data.online);
      drawPeople();
    }
    if (presenceAgain) { presenceAgain = false; readPresence(); return; }
    presenceTimer = setTimeout(readPresence, PRESENCE_POLL_MS);
  }

  async function uploadFile() {
    const file = fileInput.files[0];
    if (!file) return;
    const form = new FormData();
    form.append('file', file);
    const up = await api.request('POST', '/api/files/upload', undefined, { form });
    fileInput.value = '';
    if (up.status !== 200) { toast(up.status === 413 ? '파일이 너무 큽니다.' : api.errorText(up, '파일 업로드 중 오류가 발생했습니다.'), 'error'); return; }
    app.emit('chatMessage', { room: roomId, type: 'file', content: input.value.trim(), fileData: up.body.file });
    input.value = '';
  }

  fileInput.addEventListener('change', uploadFile);
  list.addEventListener('scroll', () => {
    if (list.scrollTop < 40 && hasMore && !loads.length && order.length) {
      fetchPage('older', byId.get(order[0]).timestamp);
    }
  });
  document.addEventListener('visibilitychange', markRead);

  main.append(h('div', { class: 'chat' },
    h('section', { 'aria-label': room.name },
      h('div', { class: 'row', style: 'padding:8px 12px;border-bottom:1px solid var(--line)' }, h('h1', { style: 'margin:0;font-size:20px' }, room.name), status),
      list,
      h('form', { class: 'composer', onsubmit: (e) => {
        e.preventDefault();
        const text = input.value.trim();
        if (!text) return;
        app.emit('chatMessage', { room: roomId, type: 'text', content: text });
        input.value = '';
      } }, h('label', { class: 'file-label', title: '파일 첨부' }, '📎', fileInput), input, send)),
    h('aside', { class: 'people', 'aria-label': '참여자' }, h('h2', { style: 'font-size:16px;margin-top:0' }, '참여자'), people)));
  drawPeople();
  readPresence();

  const off = app.listen((event, arg) => {
    switch (event) {
      case '$connected':
        if (everJoined) { joined = false; newestBeforeGap = order.length ? byId.get(order[order.length - 1]).timestamp : 0; }
        joining = false; // a request sent on the old connection gets no answer
        loads.length = 0;
        join();
        break;
      case '$disconnected':
        status.textContent = '연결이 끊겼습니다. 다른 서버로 다시 연결하는 중…';
        break;
      case 'joinRoomSuccess':
        if (!arg || arg.roomId !== roomId) break;
        joining = false;
        if (arg.participants) { participants = arg.participants; drawPeople(); }
        joined = true;
        status.textContent = '';
        if (!everJoined) { everJoined = true; fetchPage('first'); } else fetchPage('catch-up');
        break;
      case 'joinRoomError':
        joining = false;
        status.textContent = (arg && arg.message) || '채팅방 입장에 실패했습니다.';
        toast(status.textContent, 'error');
        break;
      case 'previousMessagesLoaded': {
        const kind = loads.shift();
        const msgs = arg.messages || [];
        if (kind === 'older') {
          const before = list.scrollHeight;
          hasMore = arg.hasMore;
          merge(msgs);
          list.scrollTop = list.scrollHeight - before;
        } else if (kind === 'catch-up') {
          // Read back to the newest message seen before the gap, page by page.
          merge(msgs);
          if (arg.hasMore && msgs.length && msgs[0].timestamp > newestBeforeGap) fetchPage('catch-up', msgs[0].timestamp);
          else toBottom();
        } else {
          hasMore = arg.hasMore;
          merge(msgs);
          toBottom();
        }
        historyEnd.hidden = hasMore;
        markRead();
        break;
      }
      case 'message':
        if (!arg || arg.room !== roomId) break;
        { const stick = nearBottom() || (arg.sender && arg.sender.id === me.id);
          merge([arg]);
          if (stick) toBottom(); }
        markRead();
        break;
      case 'participantsUpdate':
        if (Array.isArray(arg)) { participants = arg; drawPeople(); redrawMine(); readPresence(); }
        break;
      case 'userLeft':
        readPresence();
        break;
      case 'messagesRead': {
        const seqs = (arg.messageIds || []).map((id) => byId.get(id)).filter(Boolean).map((m) => m.seq);
        if (!seqs.length) break;
        const upTo = Math.max(...seqs);
        // Read marks are watermarks: reading message N reads everything before it.
        for (const id of order) {
          const m = byId.get(id);
          if (m.seq <= upTo && !(m.readers || []).some((r) => r.userId === arg.userId)) {
            m.readers = [...(m.readers || []), { userId: arg.userId, readAt: Date.now() }];
            if (m.sender && m.sender.id === me.id) redraw(id);
          }
        }
        break;
      }
      case 'messageReactionUpdate':
        if (byId.has(arg.messageId)) { byId.get(arg.messageId).reactions = arg.reactions; redraw(arg.messageId); }
        break;
      case 'messageDeleted':
        // An admin removed it (admin API): it disappears for everyone.
        if (arg && arg.roomId === roomId && byId.has(arg.messageId)) {
          byId.delete(arg.messageId);
          order = order.filter((id) => id !== arg.messageId);
          const el = list.querySelector(`[data-id="${arg.messageId}"]`);
          if (el) el.remove();
        }
        break;
      case 'roomDeleted':
        if (arg && arg.roomId === roomId) {
          joined = false;
          toast('관리자가 이 채팅방을 삭제했습니다.', 'error');
          app.go('/chat', true);
        }
        break;
      case 'error':
        toast((arg && arg.message) || '오류가 발생했습니다.', 'error');
        break;
      default:
    }
  });
  if (app.connected()) join();
  input.focus();

  return () => {
    gone = true;
    off();
    clearTimeout(markTimer);
    clearTimeout(presenceTimer);
    document.removeEventListener('visibilitychange', markRead);
    if (joined) app.emit('leaveRoom', roomId);
  };
}
