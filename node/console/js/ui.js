// Small DOM helpers shared by the console's pages: element building, toasts, banners,
// a confirmation dialog, sizes and times in Korean.

/** `h('button', {class: 'x', onclick}, 'text', child)`; `testid` sets data-testid. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'testid') el.dataset.testid = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function toast(text, kind = 'info', testid) {
  const t = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status', testid: testid || (kind === 'error' ? 'toast-error' : kind === 'success' ? 'toast-success' : undefined) }, text);
  document.getElementById('toasts').append(t);
  setTimeout(() => t.remove(), kind === 'mention' ? 10000 : 5000);
  return t;
}

export function banner(text, { kind = '', testid } = {}) {
  const b = document.getElementById('banner');
  b.replaceChildren(text ? h('div', { class: kind, testid, role: 'alert' }, text) : '');
}

/** Ask before an operator action; resolves true on confirm. */
export function confirmDialog(question, confirmLabel = '확인') {
  return new Promise((resolve) => {
    const done = (v) => { d.remove(); resolve(v); };
    const ok = h('button', { class: 'danger', testid: 'confirm-ok-button', onclick: () => done(true) }, confirmLabel);
    const d = h('div', { class: 'dialog', role: 'dialog', 'aria-modal': 'true', testid: 'confirm-dialog' },
      h('div', {}, h('p', {}, question),
        h('div', { class: 'row' }, ok, h('button', { class: 'ghost', testid: 'confirm-cancel-button', onclick: () => done(false) }, '취소'))));
    d.addEventListener('keydown', (e) => { if (e.key === 'Escape') done(false); });
    document.body.append(d);
    ok.focus();
  });
}

/** `12.3 KB` style sizes. */
export function humanSize(bytes) {
  if (!(bytes >= 0)) return '';
  const units = ['B', 'KB', 'MB', 'GB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

export function timeText(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString('ko-KR', { hour: '2-digit', minute: '2-digit' });
}

export function dateText(iso) {
  const d = new Date(iso);
  return isNaN(d) ? '' : d.toLocaleString('ko-KR');
}
