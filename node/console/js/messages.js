// How one chat message is drawn (protocol §7): text, file with preview, view and
// download, system lines, reactions with the emoji picker, and for the user's own
// messages the read status computed from the room's participants and `readers`.

import * as api from './api.js';
import { h, humanSize, timeText } from './ui.js';

export const EMOJIS = ['👍', '❤️', '😂', '😮', '😢', '🎉'];
const PREVIEWABLE = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'];

/**
 * @param {object} m the message
 * @param {object} ctx `{me, participants, react(messageId, emoji, type)}`
 */
export function renderMessage(m, ctx) {
  if (m.type === 'system') {
    return h('div', { class: 'msg system', testid: 'message-container', 'data-id': m._id },
      h('span', { testid: 'message-content' }, m.content));
  }
  const mine = m.sender && m.sender.id === ctx.me.id;
  const mentioned = !mine && ctx.me.name && (m.content || '').includes(`@${ctx.me.name}`);
  const who = m.sender ? (m.sender.name || '(탈퇴한 사용자)') : (m.aiType || 'AI');
  const body = m.type === 'file' && m.file ? fileBody(m) : h('div', { class: 'content', testid: 'message-content' }, m.content);
  const picker = h('div', { class: 'picker', testid: 'emoji-picker-container', hidden: true, role: 'group', 'aria-label': '리액션 선택' },
    EMOJIS.map((e) => h('button', { type: 'button', 'aria-label': e, onclick: () => { picker.hidden = true; ctx.react(m._id, e, hasMine(m, e, ctx) ? 'remove' : 'add'); } }, e)));
  const tools = h('span', { class: 'tools' },
    h('button', { type: 'button', testid: 'message-reaction-button', 'aria-label': '리액션 추가', 'aria-expanded': 'false', onclick: (ev) => {
      picker.hidden = !picker.hidden;
      ev.currentTarget.setAttribute('aria-expanded', String(!picker.hidden));
      if (!picker.hidden) picker.querySelector('button').focus();
    } }, '😊+'));
  return h('div', { class: `msg${mine ? ' mine' : ''}${mentioned ? ' mentioned' : ''}`, testid: 'message-container', 'data-id': m._id },
    h('div', { class: 'meta' }, h('strong', {}, who), h('span', {}, timeText(m.timestamp)), mine ? readStatus(m, ctx) : null, tools),
    body, picker, reactions(m, ctx));
}

function hasMine(m, emoji, ctx) {
  return ((m.reactions || {})[emoji] || []).includes(ctx.me.id);
}

function reactions(m, ctx) {
  const entries = Object.entries(m.reactions || {}).filter(([, users]) => users.length);
  return h('div', { class: 'reactions', testid: 'message-reactions' }, entries.map(([emoji, users]) => {
    const mine = users.includes(ctx.me.id);
    return h('button', { type: 'button', class: mine ? 'mine' : '', 'aria-pressed': String(mine), 'aria-label': `${emoji} ${users.length}`, testid: 'message-reaction',
      onclick: () => ctx.react(m._id, emoji, mine ? 'remove' : 'add') }, `${emoji} ${users.length}`);
  }));
}

function readStatus(m, ctx) {
  const others = ctx.participants.filter((p) => p.id !== ctx.me.id);
  if (!others.length) return null;
  const readers = new Set((m.readers || []).map((r) => r.userId));
  const unread = others.filter((p) => !readers.has(p.id)).length;
  return unread === 0
    ? h('span', { class: 'success', testid: 'read-status-all-read', title: '모두 읽음' }, '모두 읽음')
    : h('span', { testid: 'read-status-unread', title: `${unread}명이 읽지 않음` }, `${unread}명 안 읽음`);
}

function fileBody(m) {
  const f = m.file;
  const name = f.originalname || f.filename;
  const view = api.fileUrl(`/api/files/view/${f.filename}`);
  const download = api.fileUrl(`/api/files/download/${f.filename}`, '&download=true');
  return h('div', { testid: 'file-message-container' },
    PREVIEWABLE.includes(f.mimetype) ? h('img', { class: 'preview', src: view, alt: name, testid: 'file-image-preview', loading: 'lazy' }) : null,
    h('div', {}, `📎 ${name} (${humanSize(f.size)})`),
    m.content ? h('div', { class: 'content', testid: 'message-content' }, m.content) : null,
    h('div', { class: 'row' },
      h('a', { href: view, target: '_blank', rel: 'noopener', testid: 'file-view-button' }, '보기'),
      h('a', { href: download, download: name, testid: 'file-download-button' }, '다운로드')));
}
