// The start page, login and registration (protocol §3.3). Registering also logs in
// (our API returns a real session), so it goes straight to the room list.

import * as api from './api.js';
import { h, banner } from './ui.js';

export function startPage(main, app) {
  if (api.session()) { app.go('/chat', true); return; }
  const expired = new URLSearchParams(location.search).get('error') === 'session_expired';
  main.append(h('div', { class: 'card' },
    h('h1', {}, '채팅에 오신 것을 환영합니다'),
    expired ? h('p', { class: 'error', role: 'alert' }, '세션이 종료되었습니다. 다시 로그인해주세요.') : null,
    h('p', {}, '계정이 있으면 로그인하고, 없으면 회원가입하세요.')));
  loginForm(main, app);
  main.append(h('p', {}, h('a', { href: '/register', 'data-link': '' }, '회원가입')));
}

export function loginPage(main, app) {
  if (api.session()) { app.go('/chat', true); return; }
  main.append(h('h1', {}, '로그인'));
  loginForm(main, app);
  main.append(h('p', {}, '계정이 없으신가요? ', h('a', { href: '/register', 'data-link': '' }, '회원가입')));
}

function loginForm(main, app) {
  const email = h('input', { type: 'email', required: true, autocomplete: 'email', testid: 'login-email-input' });
  const password = h('input', { type: 'password', required: true, autocomplete: 'current-password', testid: 'login-password-input' });
  const error = h('p', { class: 'error', role: 'alert', testid: 'login-error-message', hidden: true });
  const submit = h('button', { type: 'submit', testid: 'login-submit-button' }, '로그인');
  const form = h('form', { class: 'stack card', onsubmit: async (e) => {
    e.preventDefault();
    submit.disabled = true;
    const res = await api.request('POST', '/api/auth/login', { email: email.value, password: password.value }, { anonymous: true });
    submit.disabled = false;
    if (res.status === 200 && res.body && res.body.success) {
      enter(app, res.body);
    } else {
      error.textContent = api.errorText(res, '로그인에 실패했습니다.');
      error.hidden = false;
    }
  } }, h('label', {}, '이메일', email), h('label', {}, '비밀번호', password), error, submit);
  main.append(form);
  email.focus();
}

export function registerPage(main, app) {
  if (api.session()) { app.go('/chat', true); return; }
  const name = h('input', { type: 'text', required: true, autocomplete: 'name', testid: 'register-name-input' });
  const email = h('input', { type: 'email', required: true, autocomplete: 'email', testid: 'register-email-input' });
  const password = h('input', { type: 'password', required: true, autocomplete: 'new-password', testid: 'register-password-input' });
  const confirm = h('input', { type: 'password', required: true, autocomplete: 'new-password', testid: 'register-password-confirm-input' });
  const error = h('p', { class: 'error', role: 'alert', testid: 'register-error-message', hidden: true });
  const submit = h('button', { type: 'submit', testid: 'register-submit-button' }, '회원가입');
  const fail = (text) => { error.textContent = text; error.hidden = false; };
  main.append(h('h1', {}, '회원가입'), h('form', { class: 'stack card', onsubmit: async (e) => {
    e.preventDefault();
    if (password.value !== confirm.value) return fail('비밀번호가 일치하지 않습니다.');
    submit.disabled = true;
    const res = await api.request('POST', '/api/auth/register', { name: name.value, email: email.value, password: password.value }, { anonymous: true });
    submit.disabled = false;
    if (res.status === 201 && res.body && res.body.token) enter(app, res.body);
    else fail(api.errorText(res, '회원가입에 실패했습니다.'));
  } }, h('label', {}, '이름', name), h('label', {}, '이메일', email), h('label', {}, '비밀번호', password),
  h('label', {}, '비밀번호 확인', confirm), error, submit),
  h('p', {}, '이미 계정이 있으신가요? ', h('a', { href: '/login', 'data-link': '' }, '로그인')));
  name.focus();
}

function enter(app, body) {
  banner('');
  app.loggedIn({ token: body.token, sessionId: body.sessionId, user: body.user });
  app.go(new URLSearchParams(location.search).get('next') || '/chat');
}
