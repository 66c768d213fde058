// The agents' inbox page. Speaks the inbox WebSocket (docs/handoff.md); renders with textContent only.
(() => {
  'use strict';
  const STRINGS = {
    en: {
      connecting: 'Connecting…', connected: 'Connected', lost: 'Connection lost; retrying in {s} s',
      bot: 'With the bot', queued: 'Waiting', assigned: 'With {name}', resolved: 'Resolved',
      waiting: 'waiting {t}', late: 'late', visitor: 'Visitor', typing: 'The visitor is typing…',
      note: 'Private note', you: 'You', newChat: 'Someone is waiting for a person', assignedToYou: 'A conversation was assigned to you',
      handoff_requested: 'Queued for a person', transferred: 'Transferred', returned_to_bot: 'Returned to the bot',
      reopened: 'Reopened', offline_ticket: 'Left a message for the team', verified: 'Verified customer', anonymous: 'Anonymous visitor',
      intent: 'intent', slots: 'Collected', denied: 'Notifications are blocked in this browser.',
    },
    'zh-hans': {
      connecting: '正在连接…', connected: '已连接', lost: '连接中断，{s} 秒后重试',
      bot: '机器人接待中', queued: '等待中', assigned: '{name} 接待中', resolved: '已解决',
      waiting: '已等待 {t}', late: '超时', visitor: '访客', typing: '访客正在输入…',
      note: '内部备注', you: '我', newChat: '有访客在等待人工客服', assignedToYou: '有一个对话分配给了您',
      handoff_requested: '已排队等待人工', transferred: '已转接', returned_to_bot: '已交回机器人',
      reopened: '已重新打开', offline_ticket: '访客留言给团队', verified: '已验证客户', anonymous: '匿名访客',
      intent: '意图', slots: '已收集', denied: '此浏览器已禁止通知。',
    },
  };
  const lang = (document.documentElement.lang || 'en').toLowerCase().startsWith('zh') ? 'zh-hans' : 'en';
  const t = (key, vars = {}) => (STRINGS[lang][key] || STRINGS.en[key] || key).replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ''));
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => { const n = document.createElement(tag); if (cls) n.className = cls; if (text != null) n.textContent = text; return n; };

  const state = { ws: null, view: 'unassigned', items: [], cursor: null, selected: 0, open: null, me: null, retry: 1, typingSent: 0, deltas: {} };

  function send(frame) { if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(frame)); }

  function connect() {
    $('status').textContent = t('connecting');
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws/inbox/`);
    state.ws = ws;
    ws.onopen = () => { state.retry = 1; send({ type: 'hello' }); };
    ws.onmessage = (e) => onFrame(JSON.parse(e.data));
    ws.onclose = () => {
      const wait = Math.min(30, state.retry); state.retry *= 2;
      $('status').textContent = t('lost', { s: wait });
      setTimeout(connect, wait * 1000);
    };
  }

  function onFrame(f) {
    switch (f.type) {
      case 'welcome':
        state.me = f.agent; $('status').textContent = t('connected'); $('presence').value = f.agent.presence;
        counts(f.counts); transferOptions(f); list(true);
        if (state.open) send({ type: 'open', conversation_id: state.open.id });  // re-read after a reconnect
        break;
      case 'list': renderList(f); break;
      case 'update': onUpdate(f.update); break;
      case 'conversation': renderConversation(f.conversation); break;
      case 'message': if (isOpen(f)) { delete state.deltas[f.reply_to]; appendMessage(f); } break;
      case 'delta': if (isOpen(f)) streamDelta(f); break;
      case 'typing': if (isOpen(f) && f.role === 'visitor') showTyping(f.on); break;
      case 'note': if (isOpen(f)) appendNote(f); break;
      case 'handoff': if (isOpen(f)) { state.open.status = f.status; renderActions(); } break;
      case 'notification': notify(t('assignedToYou')); break;
      case 'error': $('status').textContent = `${f.action || ''}: ${f.detail}`; break;
      default: break;
    }
  }

  const isOpen = (f) => state.open && f.conversation_id === state.open.id;

  function onUpdate(u) {
    if (u.kind === 'handoff_requested') notify(t('newChat'));
    list(true);
    if (state.open && u.conversation_id === state.open.id && u.kind !== 'message') send({ type: 'open', conversation_id: state.open.id });
  }

  function list(reset) {
    if (reset) { state.cursor = null; }
    send({ type: 'list', view: state.view, bot_id: null, cursor: reset ? null : state.cursor });
  }

  function counts(c) { Object.entries(c || {}).forEach(([k, v]) => { const n = document.querySelector(`[data-count="${k}"]`); if (n) n.textContent = v; }); }

  function transferOptions(f) {
    const select = $('transfer');
    (f.agents || []).filter((a) => a.id !== f.agent.id).forEach((a) => { const o = el('option', null, a.name); o.value = `agent:${a.id}`; select.append(o); });
    (f.teams || []).forEach((team) => { const o = el('option', null, team.name); o.value = `team:${team.id}`; select.append(o); });
  }

  function age(seconds) { return seconds < 60 ? `${seconds}s` : `${Math.floor(seconds / 60)} min`; }

  function statusText(item) { return item.status === 'assigned' ? t('assigned', { name: item.assigned_agent ? item.assigned_agent.name : '' }) : t(item.status); }

  function renderList(f) {
    const ul = $('items');
    if (!f.cursor) { ul.textContent = ''; state.items = []; }
    state.items = state.items.concat(f.items);
    state.cursor = f.next_cursor;
    $('more').hidden = !f.next_cursor;
    $('empty').hidden = state.items.length > 0;
    ul.textContent = '';
    state.items.forEach((item, i) => {
      const li = el('li', 'item');
      li.setAttribute('role', 'option'); li.id = `item-${item.id}`; li.dataset.index = i;
      li.setAttribute('aria-selected', String(i === state.selected));
      li.append(el('strong', null, `${item.bot.name} #${item.id}`), el('span', 'meta', statusText(item)));
      if (item.waiting_s != null) li.append(el('span', item.sla_breached ? 'wait late' : 'wait', t('waiting', { t: age(item.waiting_s) }) + (item.sla_breached ? ` · ${t('late')}` : '')));
      if (item.last_message) li.append(el('span', 'last', item.last_message.text));
      li.addEventListener('click', () => { state.selected = i; openSelected(); });
      ul.append(li);
    });
    if (state.items[state.selected]) ul.setAttribute('aria-activedescendant', `item-${state.items[state.selected].id}`);
  }

  function openSelected() { const item = state.items[state.selected]; if (item) send({ type: 'open', conversation_id: item.id }); }

  function renderConversation(c) {
    state.open = c; state.deltas = {};
    $('none-open').hidden = true; $('open').hidden = false;
    $('conv-title').textContent = `${c.bot.name} #${c.id} · ${statusText(c)}`;
    const brief = $('brief'); brief.textContent = '';
    brief.append(el('p', null, c.visitor.user_id ? `${t('verified')}: ${c.visitor.user_id}` : t('anonymous')));
    const slots = Object.entries(c.slots || {});
    if (slots.length) brief.append(el('p', null, `${t('slots')}: ${slots.map(([k, v]) => `${k} = ${v}`).join(', ')}`));
    const ol = $('transcript'); ol.textContent = '';
    const timeline = [...c.messages.map((m) => ({ at: m.created_at, m })), ...c.events.map((e) => ({ at: e.created_at, e })), ...c.notes.map((n) => ({ at: n.created_at, n }))];
    timeline.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    timeline.forEach((row) => (row.m ? appendMessage(row.m) : row.e ? appendEvent(row.e) : appendNote(row.n)));
    renderActions(); showTyping(false);
  }

  function appendMessage(m) {
    const who = m.role === 'user' ? t('visitor') : m.role === 'agent' ? (m.author ? m.author.name : 'Agent') : 'Bot';
    const li = el('li', `msg ${m.role}`);
    li.append(el('span', 'who', who), el('span', 'text', m.text));
    if (m.role === 'user' && m.intent) li.append(el('span', 'nlu', `${t('intent')}: ${m.intent} (${Math.round((m.confidence || 0) * 100)}%)`));
    const streaming = document.getElementById(`delta-${m.reply_to}`);
    if (streaming) streaming.replaceWith(li); else $('transcript').append(li);
    li.scrollIntoView({ block: 'nearest' });
  }

  function streamDelta(d) {
    let li = document.getElementById(`delta-${d.reply_to}`);
    if (!li) { li = el('li', 'msg bot streaming'); li.id = `delta-${d.reply_to}`; li.append(el('span', 'who', 'Bot'), el('span', 'text', '')); $('transcript').append(li); }
    const text = state.deltas[d.reply_to] || '';
    if (d.offset === text.length) state.deltas[d.reply_to] = text + d.text;
    li.querySelector('.text').textContent = state.deltas[d.reply_to] || '';
  }

  function appendEvent(e) {
    const li = el('li', 'event', `${t(e.kind) !== e.kind ? t(e.kind) : e.kind}${e.agent ? ` · ${e.agent}` : ''}${e.reason ? ` · ${e.reason}` : ''}`);
    $('transcript').append(li);
  }

  function appendNote(n) {
    const li = el('li', 'note');
    li.append(el('span', 'who', `${t('note')} · ${n.author || ''}`), el('span', 'text', n.text));
    $('transcript').append(li);
  }

  function renderActions() {
    const c = state.open; if (!c) return;
    const mine = c.status === 'assigned' && c.assigned_agent && state.me && c.assigned_agent.id === state.me.id;
    const enabled = { claim: c.status === 'queued' || c.status === 'bot', return_to_bot: c.status === 'queued' || mine, resolve: c.status !== 'resolved', reopen: c.status === 'resolved' };
    document.querySelectorAll('[data-action]').forEach((b) => { b.disabled = !enabled[b.dataset.action]; });
    $('transfer').disabled = !mine;
    $('reply').disabled = false;
  }

  function showTyping(on) { $('typing').textContent = on ? t('typing') : ''; }

  function act(action) { if (state.open) send({ type: action, conversation_id: state.open.id }); }

  function submitReply(ev) {
    if (ev) ev.preventDefault();
    const text = $('reply').value.trim();
    if (!text || !state.open) return;
    const note = $('as-note').checked;
    send(note ? { type: 'note', conversation_id: state.open.id, text } : { type: 'reply', conversation_id: state.open.id, client_id: crypto.randomUUID(), text });
    $('reply').value = '';
    send({ type: 'typing', conversation_id: state.open.id, on: false });
  }

  // A short two-tone chime from the Web Audio API (no sound file), and a browser notification if allowed.
  function notify(body) {
    document.title = `(!) ${document.title.replace(/^\(!\) /, '')}`;
    try {
      const ctx = new AudioContext(); const osc = ctx.createOscillator(); const gain = ctx.createGain();
      osc.connect(gain); gain.connect(ctx.destination); gain.gain.value = 0.05;
      osc.frequency.setValueAtTime(880, ctx.currentTime); osc.frequency.setValueAtTime(660, ctx.currentTime + 0.12);
      osc.start(); osc.stop(ctx.currentTime + 0.25);
    } catch (_) { /* audio blocked until the page was used: the title and the list still show it */ }
    if ('Notification' in window && Notification.permission === 'granted') new Notification('chatplatform', { body });
  }

  function bind() {
    document.querySelectorAll('#tabs [role="tab"]').forEach((tab) => tab.addEventListener('click', () => {
      document.querySelectorAll('#tabs [role="tab"]').forEach((x) => x.setAttribute('aria-selected', String(x === tab)));
      state.view = tab.dataset.view; state.selected = 0; list(true);
    }));
    $('more').addEventListener('click', () => list(false));
    document.querySelectorAll('[data-action]').forEach((b) => b.addEventListener('click', () => act(b.dataset.action)));
    $('transfer').addEventListener('change', (e) => {
      const [kind, id] = e.target.value.split(':'); if (!id || !state.open) return;
      send({ type: 'transfer', conversation_id: state.open.id, [kind === 'agent' ? 'to_agent_id' : 'to_team_id']: Number(id) });
      e.target.value = '';
    });
    $('presence').addEventListener('change', (e) => send({ type: 'presence', presence: e.target.value }));
    $('composer').addEventListener('submit', submitReply);
    $('reply').addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.shiftKey) submitReply(e); });
    $('reply').addEventListener('input', () => {
      if (!state.open || $('as-note').checked || Date.now() - state.typingSent < 4000) return;
      state.typingSent = Date.now(); send({ type: 'typing', conversation_id: state.open.id, on: true });
    });
    $('notify').addEventListener('click', async () => {
      if (!('Notification' in window)) return;
      const answer = await Notification.requestPermission();
      if (answer === 'denied') $('status').textContent = t('denied');
    });
    $('help-open').addEventListener('click', () => $('help').showModal());
    document.addEventListener('keydown', (e) => {
      if (e.target.closest('textarea, input, select') || e.metaKey || e.ctrlKey || e.altKey) return;
      const keys = { j: () => move(1), k: () => move(-1), Enter: openSelected, c: () => act('claim'), e: () => act('resolve'), b: () => act('return_to_bot'), r: () => $('reply').focus(), '?': () => $('help').showModal() };
      if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
    });
    window.addEventListener('focus', () => { document.title = document.title.replace(/^\(!\) /, ''); });
    setInterval(() => send({ type: 'heartbeat' }), 30000);
  }

  function move(step) {
    if (!state.items.length) return;
    state.selected = Math.max(0, Math.min(state.items.length - 1, state.selected + step));
    document.querySelectorAll('#items [role="option"]').forEach((li, i) => li.setAttribute('aria-selected', String(i === state.selected)));
    $('items').setAttribute('aria-activedescendant', `item-${state.items[state.selected].id}`);
    document.getElementById(`item-${state.items[state.selected].id}`).scrollIntoView({ block: 'nearest' });
  }

  document.addEventListener('DOMContentLoaded', () => { bind(); connect(); });
})();
