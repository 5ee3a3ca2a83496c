// The cluster dashboard (`/cluster`): served to anyone, data only for admins, from
// `GET /api/console/cluster` (the node proxies the cluster view; the cluster secret
// never reaches the browser). Polled twice a second: every node's role, Raft state,
// term, applied index and lag, health, sockets and users, messages per second, and a
// live chart of messages/s with the leader changes marked.

import * as api from './api.js';
import { h } from './ui.js';

const POLL_MS = 500;
const WINDOW_MS = 5 * 60 * 1000;

export function clusterPage(main) {
  main.append(h('h1', {}, '클러스터'));
  if (!api.session()) {
    main.append(h('p', { testid: 'cluster-login-required' }, '관리자 계정으로 ',
      h('a', { href: '/login?next=/cluster', 'data-link': '' }, '로그인'), '하면 클러스터 상태를 볼 수 있습니다.'));
    return undefined;
  }
  const error = h('p', { class: 'error', role: 'alert', testid: 'cluster-error', hidden: true });
  const leader = h('strong', { testid: 'cluster-leader' }, '-');
  const term = h('span', {}, '-');
  const rows = h('tbody');
  const chart = h('div', { class: 'chart', testid: 'cluster-chart', role: 'img', 'aria-label': '초당 메시지와 리더 변경' });
  const changes = h('ol', { testid: 'leader-changes', reversed: true });
  main.append(error,
    h('div', { class: 'card row' }, '리더: ', leader, ' · 임기(term): ', term),
    h('div', { class: 'card', style: 'overflow-x:auto' }, h('table', {},
      h('thead', {}, h('tr', {}, ['노드', '역할', 'Raft 상태', 'term', '적용 인덱스', '지연', '상태', '소켓', '사용자', '메시지/초'].map((t) => h('th', {}, t)))),
      rows)),
    h('div', { class: 'card' }, h('h2', { style: 'font-size:16px;margin-top:0' }, '초당 메시지 · 리더 변경 (최근 5분)'), chart,
      h('h3', { style: 'font-size:14px' }, '리더 변경 기록'), changes),
    h('div', { class: 'card' }, h('h2', { style: 'font-size:16px;margin-top:0' }, '운영 작업'),
      h('div', { class: 'row' },
        h('button', { disabled: true, testid: 'transfer-leadership-button' }, '리더십 이전'),
        h('button', { disabled: true, testid: 'drain-node-button' }, '노드 드레인')),
      h('p', { class: 'muted', testid: 'operator-actions-note' },
        '리더십 이전과 노드 드레인은 이 서버 버전의 관리 API에 아직 없어 사용할 수 없습니다. 그때까지는 chatctl을 쓰세요.')));

  const history = []; // {t, rate}
  const leaderLog = []; // {t, leader, term}
  let last = null; // previous answer, for rates
  let stopped = false;

  async function poll() {
    if (stopped) return;
    const res = await api.request('GET', '/api/console/cluster');
    if (stopped) return;
    if (res.status !== 200 || !res.body || !res.body.nodes) {
      error.textContent = res.status === 404
        ? '클러스터 API가 이 서버에 없습니다 (404).'
        : api.errorText(res, `클러스터 상태를 불러오지 못했습니다 (${res.status}).`);
      error.hidden = false;
    } else {
      error.hidden = true;
      draw(res.body);
    }
    setTimeout(poll, POLL_MS);
  }

  function draw(view) {
    const now = view.timestamp;
    const rates = {};
    let total = 0;
    for (const n of view.nodes) {
      const before = last && last.nodes.find((x) => x.id === n.id);
      if (before && n.messagesAccepted != null && before.messagesAccepted != null && now > last.timestamp) {
        rates[n.id] = Math.max(0, (n.messagesAccepted - before.messagesAccepted) * 1000 / (now - last.timestamp));
        total += rates[n.id];
      }
    }
    last = view;
    const leaders = view.nodes.filter((n) => n.status && n.status.state === 'leader').sort((a, b) => b.status.term - a.status.term);
    const lead = leaders[0];
    const maxTerm = Math.max(0, ...view.nodes.filter((n) => n.status).map((n) => n.status.term));
    leader.textContent = lead ? `노드 ${lead.id}` : '없음';
    leader.dataset.leaderId = lead ? String(lead.id) : '';
    term.textContent = String(maxTerm);
    const prev = leaderLog[leaderLog.length - 1];
    if (!prev || prev.leader !== (lead ? lead.id : null)) {
      leaderLog.push({ t: now, leader: lead ? lead.id : null, term: maxTerm });
      changes.prepend(h('li', { testid: 'leader-change' }, `${new Date(now).toLocaleTimeString('ko-KR')} — ${lead ? `노드 ${lead.id} (term ${maxTerm})` : '리더 없음'}`));
    }
    history.push({ t: now, rate: total });
    while (history.length && history[0].t < now - WINDOW_MS) history.shift();
    rows.replaceChildren(...view.nodes.map((n) => row(n, rates[n.id])));
    chart.replaceChildren(plot(history, leaderLog, now));
  }

  poll();
  return () => { stopped = true; };
}

function row(n, rate) {
  const s = n.status;
  const state = s ? s.state : 'unreachable';
  const health = !s ? h('span', { class: 'pill bad' }, '응답 없음') : s.ready ? h('span', { class: 'pill ok' }, s.fresh ? '정상' : '선거 중') : h('span', { class: 'pill bad' }, '지연/단절');
  return h('tr', { testid: 'cluster-node-row', 'data-node-id': String(n.id), 'data-state': state },
    h('td', {}, `${n.id}`, h('div', { class: 'muted' }, n.public)),
    h('td', {}, n.role === 'voter' ? '투표자' : '학습자(edge)'),
    h('td', {}, h('span', { class: `pill ${state === 'leader' ? 'leader' : s ? '' : 'bad'}` }, stateName(state))),
    h('td', {}, s ? s.term : '-'),
    h('td', {}, s ? s.last_applied : '-'),
    h('td', {}, n.lag != null ? n.lag : '-'),
    h('td', {}, health),
    h('td', {}, n.sockets), h('td', {}, n.users),
    h('td', {}, rate != null ? rate.toFixed(1) : '-'));
}

function stateName(state) {
  return { leader: '리더', follower: '팔로워', learner: '학습자', candidate: '후보', shutdown: '종료', unreachable: '응답 없음' }[state] || state;
}

/** An SVG line of messages/s over the window, with a marker at every leader change. */
function plot(history, leaderLog, now) {
  const W = 800, H = 170, P = 24;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('width', '100%');
  svg.setAttribute('height', '100%');
  const el = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
  const x = (t) => P + (W - 2 * P) * (1 - (now - t) / WINDOW_MS);
  const top = Math.max(1, ...history.map((p) => p.rate));
  const y = (v) => H - P - (H - 2 * P) * (v / top);
  el('line', { x1: P, y1: H - P, x2: W - P, y2: H - P, stroke: '#aab' });
  el('text', { x: P, y: P - 8, 'font-size': 11, fill: '#667085' }, `최대 ${top.toFixed(1)} 메시지/초`);
  if (history.length > 1) {
    el('polyline', { fill: 'none', stroke: '#3056d3', 'stroke-width': 2, points: history.map((p) => `${x(p.t).toFixed(1)},${y(p.rate).toFixed(1)}`).join(' ') });
  }
  for (const c of leaderLog) {
    if (c.t < now - WINDOW_MS) continue;
    el('line', { x1: x(c.t), y1: P, x2: x(c.t), y2: H - P, stroke: c.leader ? '#18794e' : '#c0342b', 'stroke-dasharray': '4 3' });
    el('text', { x: x(c.t) + 3, y: P + 10, 'font-size': 11, fill: '#1d2330' }, c.leader ? `리더 ${c.leader} (t${c.term})` : '리더 없음');
  }
  return svg;
}
