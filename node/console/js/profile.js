// The profile: name, and the avatar upload and delete (protocol §3.4, §5.4).

import * as api from './api.js';
import { h, toast } from './ui.js';

export async function profilePage(main) {
  const res = await api.request('GET', '/api/users/profile');
  if (res.status !== 200) { main.append(h('p', { class: 'error' }, api.errorText(res, '프로필을 불러오지 못했습니다.'))); return; }
  let user = res.body.user;
  const avatar = h('img', { class: 'avatar', alt: '프로필 이미지', testid: 'profile-image-avatar' });
  const showAvatar = () => { if (user.profileImage) { avatar.src = api.assetUrl(user.profileImage); avatar.hidden = false; } else { avatar.removeAttribute('src'); } };
  const name = h('input', { type: 'text', value: user.name, required: true, testid: 'profile-name-input' });
  const ok = h('p', { class: 'success', role: 'status', testid: 'profile-success-message', hidden: true });
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const file = h('input', { type: 'file', accept: 'image/jpeg,image/png,image/gif,image/webp', testid: 'profile-image-file-input', 'aria-label': '프로필 이미지 파일' });
  const done = (text) => { ok.textContent = text; ok.hidden = false; error.hidden = true; };
  const fail = (r, text) => { error.textContent = api.errorText(r, text); error.hidden = false; ok.hidden = true; };
  const remember = () => { const s = api.session(); s.user = { ...s.user, name: user.name, profileImage: user.profileImage }; api.saveSession(s); };

  main.append(h('h1', {}, '프로필'),
    h('div', { class: 'card' }, h('div', { class: 'row' }, avatar,
      h('div', { class: 'stack' }, h('label', {}, '새 이미지', file),
        h('div', { class: 'row' },
          h('button', { type: 'button', testid: 'profile-image-upload-button', onclick: async () => {
            if (!file.files[0]) { toast('이미지를 선택하세요.', 'error'); return; }
            const form = new FormData();
            form.append('profileImage', file.files[0]);
            const r = await api.request('POST', '/api/users/profile-image', undefined, { form });
            if (r.status === 200) { user.profileImage = r.body.imageUrl; showAvatar(); remember(); done(r.body.message); file.value = ''; } else fail(r, '이미지 업로드 중 오류가 발생했습니다.');
          } }, '업로드'),
          h('button', { type: 'button', class: 'ghost', testid: 'profile-image-delete-button', onclick: async () => {
            const r = await api.request('DELETE', '/api/users/profile-image');
            if (r.status === 200) { user.profileImage = ''; showAvatar(); remember(); done(r.body.message); } else fail(r, '프로필 이미지 삭제 중 오류가 발생했습니다.');
          } }, '삭제'))))),
    h('form', { class: 'stack card', onsubmit: async (e) => {
      e.preventDefault();
      const r = await api.request('PUT', '/api/users/profile', { name: name.value });
      if (r.status === 200) { user = { ...user, ...r.body.user }; remember(); done(r.body.message); } else fail(r, '프로필 업데이트 중 오류가 발생했습니다.');
    } }, h('label', {}, '이름', name), h('p', { class: 'muted' }, `이메일: ${user.email}`),
    h('button', { type: 'submit', testid: 'profile-save-button' }, '저장'), ok, error));
  showAvatar();
}
