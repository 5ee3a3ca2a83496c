// The cluster dashboard (`/cluster`): served to anyone, data only for admins, from
// `GET /api/console/cluster` (the node proxies the cluster view; the cluster secret
// never reaches the browser). Polled twice a second: every node's role, Raft state,
// term, applied index and lag, health, sockets and users, messages per second, and a
// live chart of messages/s with the leader changes marked. Operator actions, each after
// a confirmation: transfer leadership (to a chosen voter or any) and drain a node (or end
// its drain), through the admin-only routes under `/api/console/cluster/`.

import * as api from './api.js';
import { h, confirmDialog, toast } from './ui.js';

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
  const actions = operatorActions();
  main.append(error,
    h('div', { class: 'card row' }, '리더: ', leader, ' · 임기(term): ', term),
    h('div', { class: 'card', style: 'overflow-x:auto' }, h('table', {},
      h('thead', {}, h('tr', {}, ['노드', '역할', 'Raft 상태', 'term', '적용 인덱스', '지연', '상태', '소켓', '사용자', '메시지/초'].map((t) => h('th', {}, t)))),
      rows)),
    h('div', { class: 'card' }, h('h2', { style: 'font-size:16px;margin-top:0' }, '초당 메시지 · 리더 변경 (최근 5분)'), chart,
      h('h3', { style: 'font-size:14px' }, '리더 변경 기록'), changes),
    actions.card);

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
    actions.update(view.nodes, lead);
    chart.replaceChildren(plot(history, leaderLog, now));
  }

  poll();
  return () => { stopped = true; };
}

/**
 * The operator actions card: transfer leadership to a chosen voter (or the best one) and
 * drain a node or end its drain. `update` refreshes the choices from each poll.
 */
function operatorActions() {
  const target = h('select', { 'aria-label': '새 리더', testid: 'transfer-target-select' });
  const node = h('select', { 'aria-label': '드레인할 노드', testid: 'drain-node-select' });
  const result = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite', testid: 'operator-action-result' });
  let nodes = [];
  let leader = null;
  let busy = false;

  // Options are rebuilt only when they change: a poll must not close an open list.
  const fill = (select, options) => {
    const key = JSON.stringify(options);
    if (select.dataset.options === key) return;
    select.dataset.options = key;
    const keep = select.value;
    select.replaceChildren(...options.map(([value, text]) => h('option', { value }, text)));
    if (options.some(([value]) => value === keep)) select.value = keep;
  };
  async function run(question, confirmLabel, path, body, done) {
    if (busy || !(await confirmDialog(question, confirmLabel))) return;
    busy = true;
    result.textContent = '처리 중…';
    const res = await api.request('POST', path, body);
    busy = false;
    if (res.status === 200 && res.body && res.body.success) {
      result.textContent = done(res.body.data);
      toast(result.textContent, 'success');
    } else {
      result.textContent = api.errorText(res, `작업에 실패했습니다 (${res.status}).`);
      toast(result.textContent, 'error');
    }
  }
  const transfer = h('button', { testid: 'transfer-leadership-button', disabled: true, onclick: () => {
    const to = target.value ? Number(target.value) : undefined;
    run(to ? `리더십을 노드 ${to}(으)로 넘길까요? 잠시 쓰기가 멈춥니다.` : '리더십을 가장 앞선 다른 투표자에게 넘길까요? 잠시 쓰기가 멈춥니다.', '리더십 이전',
      '/api/console/cluster/transfer-leader', to ? { to } : {},
      (d) => `리더십을 노드 ${d.from}에서 노드 ${d.to}(으)로 넘겼습니다 (${d.took_ms} ms).`);
  } }, '리더십 이전');
  const drainTarget = () => nodes.find((n) => String(n.id) === node.value);
  const drain = h('button', { class: 'danger', testid: 'drain-node-button', disabled: true, onclick: () => {
    const id = Number(node.value);
    run(`노드 ${id}을(를) 드레인할까요? 새 연결을 받지 않고, 접속한 사용자를 다른 노드로 옮깁니다.`, '드레인',
      '/api/console/cluster/drain', { node: id, drain: true },
      (d) => `노드 ${d.node} 드레인 중: 소켓 ${d.sockets}개를 다른 노드로 옮깁니다.`);
  } }, '노드 드레인');
  const undrain = h('button', { class: 'ghost', testid: 'undrain-node-button', disabled: true, onclick: () => {
    const id = Number(node.value);
    run(`노드 ${id}의 드레인을 끝낼까요? 다시 연결을 받습니다.`, '드레인 해제',
      '/api/console/cluster/drain', { node: id, drain: false }, (d) => `노드 ${d.node}이(가) 다시 연결을 받습니다.`);
  } }, '드레인 해제');
  node.addEventListener('change', () => update(nodes, leader));

  function update(list, lead) {
    nodes = list;
    leader = lead;
    const voters = list.filter((n) => n.role === 'voter' && n.status && (!lead || n.id !== lead.id));
    fill(target, [['', '가장 앞선 투표자 (자동)'], ...voters.map((n) => [String(n.id), `노드 ${n.id}`])]);
    fill(node, list.map((n) => [String(n.id), `노드 ${n.id}${n.draining ? ' (드레인 중)' : ''}`]));
    transfer.disabled = !lead;
    const chosen = drainTarget();
    drain.disabled = !chosen || !chosen.reachable || chosen.draining === true;
    undrain.disabled = !chosen || chosen.draining !== true;
  }

  const card = h('div', { class: 'card', testid: 'operator-actions' }, h('h2', { style: 'font-size:16px;margin-top:0' }, '운영 작업'),
    h('div', { class: 'row' }, h('label', { class: 'inline' }, '새 리더', target), transfer),
    h('div', { class: 'row' }, h('label', { class: 'inline' }, '노드', node), drain, undrain),
    result);
  return { card, update };
}

function row(n, rate) {
  const s = n.status;
  const state = s ? s.state : 'unreachable';
  let health = !s ? h('span', { class: 'pill bad' }, '응답 없음') : s.ready ? h('span', { class: 'pill ok' }, s.fresh ? '정상' : '선거 중') : h('span', { class: 'pill bad' }, '지연/단절');
  if (n.draining) health = h('span', { class: 'pill bad', testid: 'node-draining' }, '드레인 중');
  return h('tr', { testid: 'cluster-node-row', 'data-node-id': String(n.id), 'data-state': state, 'data-draining': n.draining ? 'true' : 'false' },
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
  // Changes close together (a transfer, a failover) get their labels on separate lines.
  let line = 0;
  let lastX = -Infinity;
  for (const c of leaderLog) {
    if (c.t < now - WINDOW_MS) continue;
    const at = x(c.t);
    line = at - lastX < 90 ? (line + 1) % 5 : 0;
    lastX = at;
    el('line', { x1: at, y1: P, x2: at, y2: H - P, stroke: c.leader ? '#18794e' : '#c0342b', 'stroke-dasharray': '4 3' });
    el('text', { x: Math.min(at + 3, W - 90), y: P + 10 + 13 * line, 'font-size': 11, fill: '#1d2330' }, c.leader ? `리더 ${c.leader} (t${c.term})` : '리더 없음');
  }
  return svg;
}
