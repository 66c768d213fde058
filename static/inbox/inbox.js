// The agents' inbox page (/inbox/). Speaks the inbox WebSocket (/ws/inbox/, inbox/ws/consumers.py;
// the frames are those of the handoff contract). Plain script, no build step, loaded as a file: the
// platform's CSP allows no inline script, so the page passes its data in data-* attributes on #inbox
// and the strings come from static/inbox/strings.js.
//
// Rules kept throughout: everything that comes from the socket is rendered with textContent or text
// nodes, never parsed as HTML; links in messages are built with createElement and only for http,
// https and mailto URLs; nothing asks for notification permission except the button that says so.
(() => {
  'use strict';
  const root = document.getElementById('inbox');
  if (!root) return;

  // -- strings ---------------------------------------------------------------------------------
  const STR = window.CHATPLATFORM_INBOX_STRINGS || { en: {} };
  const pickLang = (l) => (String(l || '').toLowerCase().startsWith('zh') ? 'zh-hans' : 'en');
  const LANG = pickLang(root.dataset.lang || document.documentElement.lang);
  const INTL_LOCALE = LANG === 'zh-hans' ? 'zh-CN' : 'en';
  const t = (key, vars) => {
    const table = STR[LANG] || {};
    const s = table[key] != null ? table[key] : STR.en && STR.en[key] != null ? STR.en[key] : key;
    return vars ? s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] == null ? '' : String(vars[k]))) : s;
  };
  const relabel = () => {
    root.querySelectorAll('[data-i18n]').forEach((n) => { n.textContent = t(n.dataset.i18n); });
    root.querySelectorAll('[data-i18n-aria-label]').forEach((n) => n.setAttribute('aria-label', t(n.dataset.i18nAriaLabel)));
  };

  // -- DOM helpers -----------------------------------------------------------------------------
  const $ = (id) => document.getElementById(id);
  /** h('li', {class, text, 'data-x': 1, onclick}, ...children): text is set with textContent. */
  const h = (tag, attrs, ...children) => {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === 'text') n.textContent = String(v);
      else if (k === 'class') n.className = v;
      else if (k.startsWith('on') && typeof v === 'function') n.addEventListener(k.slice(2), v);
      else n.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) if (c != null && c !== false) n.append(c instanceof Node ? c : String(c));
    return n;
  };
  const safeUrl = (u) => {
    try { const x = new URL(String(u)); return /^(https?|mailto):$/.test(x.protocol) ? x.href : null; } catch (e) { return null; }
  };
  const URL_RE = /(?:https?:\/\/|mailto:)[^\s<>"'`]+/gi;
  /** Appends `text` to `el` as text nodes, with http(s)/mailto URLs as links. */
  const richText = (el, text) => {
    const s = String(text == null ? '' : text);
    let last = 0;
    for (const m of s.matchAll(URL_RE)) {
      let raw = m[0].replace(/[.,;:!?'"]+$/, '');
      if (raw.endsWith(')') && !raw.includes('(')) raw = raw.slice(0, -1);
      const href = safeUrl(raw);
      if (!href) continue;
      if (m.index > last) el.append(s.slice(last, m.index));
      el.append(h('a', { href, target: '_blank', rel: 'noopener noreferrer', text: raw }));
      last = m.index + raw.length;
    }
    if (last < s.length) el.append(s.slice(last));
    return el;
  };
  const timeFmt = new Intl.DateTimeFormat(INTL_LOCALE, { hour: '2-digit', minute: '2-digit' });
  const fullFmt = new Intl.DateTimeFormat(INTL_LOCALE, { dateStyle: 'medium', timeStyle: 'medium' });
  const timeEl = (iso) => {
    const d = new Date(iso);
    if (!iso || Number.isNaN(d.getTime())) return null;
    return h('time', { datetime: d.toISOString(), title: fullFmt.format(d), text: timeFmt.format(d) });
  };
  const duration = (seconds) => {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return t('durS', { s });
    if (s < 3600) return t('durM', { m: Math.floor(s / 60), s: String(s % 60).padStart(2, '0') });
    return t('durH', { h: Math.floor(s / 3600), m: String(Math.floor((s % 3600) / 60)).padStart(2, '0') });
  };
  const uuid = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`);

  // -- state -----------------------------------------------------------------------------------
  const HEARTBEAT_MS = 30000;
  const TYPING_IDLE_MS = 4000; // our typing "on" ends after this long without a keystroke
  const TYPING_SAFETY_MS = 30000; // others' typing indicators vanish if their "off" was lost
  const NOTIFY_DEDUPE_MS = 15000; // one notice per conversation and kind (a frame and an update may both say it)
  const baseTitle = document.title;
  const S = {
    ws: null, welcomed: false, attempt: 0, retryTimer: 0, retryAt: 0, heartbeat: 0, lastCountsAsk: 0,
    me: null, bots: [], teams: [], agents: [], counts: { mine: 0, unassigned: 0, all: 0 }, sla: 300, canned: [],
    view: 'unassigned', viewChosen: false, botId: null,
    tickets: { total: 0, items: [] }, items: [], next: null, listPending: null, listDirty: false, relistTimer: 0, activeId: null,
    openId: null, conv: null, reopenTimer: 0, streams: new Map(), pending: [],
    typing: {}, typingOn: false, typingTimer: 0,
    fromSuggestion: null, suggesting: false, readUnsupported: false,
    notified: new Map(), unseen: 0, unread: new Map(), audio: null, chimes: 0, cannedActive: -1,
  };

  const send = (frame) => {
    if (!S.ws || S.ws.readyState !== WebSocket.OPEN) return false;
    S.ws.send(JSON.stringify(frame));
    return true;
  };
  const announce = (text) => {
    const a = $('announcer');
    a.textContent = '';
    // A new text node in a cleared region is what screen readers reliably announce.
    setTimeout(() => { a.textContent = text; }, 30);
  };
  let alertTimer = 0;
  const showAlert = (text) => {
    const a = $('alert');
    a.textContent = text; a.hidden = false;
    clearTimeout(alertTimer);
    alertTimer = setTimeout(() => { a.hidden = true; a.textContent = ''; }, 8000);
  };

  // -- connection ------------------------------------------------------------------------------
  const socketUrl = () => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${root.dataset.wsPath || '/ws/inbox/'}`;

  const setConn = (state, seconds) => {
    const conn = $('conn'), text = $('conn-text'), retry = $('conn-retry');
    conn.dataset.state = state;
    retry.hidden = state !== 'down';
    if (state === 'online') text.textContent = t('connected');
    else if (state === 'connecting') text.textContent = t('connecting');
    else text.textContent = t('connLost', { s: seconds }) + (S.attempt >= 4 ? ` ${t('connReload')}` : '');
    root.classList.toggle('is-offline', state !== 'online');
  };

  const connect = () => {
    clearTimeout(S.retryTimer); S.retryAt = 0;
    if (S.ws && S.ws.readyState <= WebSocket.OPEN) return;
    setConn('connecting');
    let ws;
    try { ws = new WebSocket(socketUrl()); } catch (e) { scheduleRetry(); return; }
    S.ws = ws; S.welcomed = false;
    ws.onopen = () => { if (S.ws === ws) send({ type: 'hello' }); };
    ws.onmessage = (event) => {
      if (S.ws !== ws) return;
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame && typeof frame.type === 'string') onFrame(frame);
    };
    ws.onclose = () => {
      if (S.ws !== ws) return;
      S.ws = null; S.welcomed = false;
      clearInterval(S.heartbeat);
      S.typingOn = false; S.typing = {}; renderTyping();
      scheduleRetry();
    };
  };

  // The widget's backoff (docs/protocol.md): min(15 s, 0.5 s · 2^attempt) · random(0.5..1).
  const scheduleRetry = () => {
    const delay = Math.min(15000, 500 * 2 ** S.attempt) * (0.5 + Math.random() / 2);
    S.attempt += 1;
    S.retryAt = Date.now() + delay;
    setConn('down', Math.ceil(delay / 1000));
    clearTimeout(S.retryTimer);
    S.retryTimer = setTimeout(connect, delay);
  };
  const retryNow = () => { if (!S.ws) connect(); };

  // -- frames ----------------------------------------------------------------------------------
  const onFrame = (f) => {
    switch (f.type) {
      case 'welcome': return onWelcome(f);
      case 'pong': return undefined;
      case 'presence_ack': $('presence').value = f.presence; return undefined;
      case 'list': return onList(f);
      case 'update': return onUpdate(f.update || {});
      case 'conversation': return onConversation(f.conversation);
      case 'message': return onMessage(f);
      case 'delta': return onDelta(f);
      case 'typing': return onTyping(f);
      case 'handoff': return onHandoff(f);
      case 'note': return onNote(f);
      case 'assist': return onAssist(f.assist || {});
      case 'notification': return notify(f.kind, f.conversation_id, f.title, f.body);
      case 'ack': return onAck(f);
      case 'error': return onError(f);
      default: return undefined;
    }
  };

  const onWelcome = (f) => {
    const first = !S.welcomed;
    S.welcomed = true;
    S.me = f.agent || S.me;
    S.bots = Array.isArray(f.bots) ? f.bots : [];
    S.teams = Array.isArray(f.teams) ? f.teams : [];
    S.agents = Array.isArray(f.agents) ? f.agents : [];
    if (typeof f.sla_seconds === 'number') S.sla = f.sla_seconds;
    // Canned replies: used when the server lists them in the welcome (the contract has inbox.CannedReply).
    const canned = f.canned_replies || f.canned;
    if (Array.isArray(canned)) S.canned = canned.filter((c) => c && c.shortcut && c.text);
    if (f.counts) setCounts(f.counts);
    if (f.tickets && Array.isArray(f.tickets.items)) { S.tickets = f.tickets; renderTickets(); }
    renderPresence(); renderBotFilter(); renderTransferOptions();
    if (!first) return; // a second welcome on the same socket only refreshes the counts
    S.attempt = 0;
    setConn('online');
    clearInterval(S.heartbeat);
    S.heartbeat = setInterval(() => send({ type: 'heartbeat' }), HEARTBEAT_MS);
    if (!S.viewChosen && S.counts.mine > 0) setView('mine', false);
    requestList('reset');
    // Nothing lost across a reconnect: re-read the open conversation, then resend unconfirmed replies
    // (the server stores a client_id once, so a resend of a stored reply is not a second message).
    if (S.openId) send({ type: 'open', conversation_id: S.openId });
    else if (remembered()) openConversation(remembered());
    S.pending.forEach((p) => { if (p.state !== 'failed') { p.state = 'sending'; sendReply(p); } });
    renderPending();
  };

  const setCounts = (counts) => {
    for (const view of ['mine', 'unassigned', 'all']) if (typeof counts[view] === 'number') S.counts[view] = counts[view];
    root.querySelectorAll('[data-count]').forEach((n) => { n.textContent = String(S.counts[n.dataset.count] || 0); });
    renderTitle();
  };

  // The list frame has no counts (contract); a second hello returns them. At most every 2 s.
  const refreshCounts = () => {
    const now = Date.now();
    if (now - S.lastCountsAsk < 2000) { setTimeout(refreshCounts, 2000 - (now - S.lastCountsAsk)); return; }
    S.lastCountsAsk = now;
    send({ type: 'hello' });
  };

  const requestList = (mode) => {
    if (!S.welcomed) return;
    if (S.listPending) { S.listDirty = mode === 'reset' || S.listDirty; if (mode === 'reset') S.listPending = 'reset'; return; }
    S.listPending = mode;
    $('items').setAttribute('aria-busy', 'true');
    send({ type: 'list', view: S.view, bot_id: S.botId, cursor: mode === 'more' ? S.next : null });
  };

  const onList = (f) => {
    const mode = S.listPending || 'reset';
    S.listPending = null;
    if (f.view && f.view !== S.view) { requestList('reset'); return; } // an answer for the tab we left
    const now = performance.now();
    const items = (Array.isArray(f.items) ? f.items : []).map((item) => ({ ...item, receivedAt: now }));
    if (mode === 'more') {
      const known = new Set(S.items.map((i) => i.id));
      S.items = S.items.concat(items.filter((i) => !known.has(i.id)));
    } else S.items = items;
    S.next = f.next_cursor || null;
    S.items.forEach((i) => { if (typeof i.unread === 'number') S.unread.set(i.id, i.id === S.openId ? 0 : i.unread); });
    if (f.counts) setCounts(f.counts);
    else if (S.botId == null && !S.next && mode === 'reset') setCounts({ [S.view]: S.items.length });
    if (!S.items.some((i) => i.id === S.activeId)) S.activeId = S.items.some((i) => i.id === S.openId) ? S.openId : (S.items[0] || {}).id ?? null;
    renderList();
    if (S.listDirty) { S.listDirty = false; requestList('reset'); }
  };

  // A throttle, not a debounce: under a steady stream of updates a debounced re-read would never
  // run. At most one re-read per half second, and requestList keeps one in flight.
  const scheduleRelist = () => {
    if (S.relistTimer) return;
    S.relistTimer = setTimeout(() => { S.relistTimer = 0; requestList('reset'); refreshCounts(); }, 500);
  };
  const scheduleReopen = () => {
    clearTimeout(S.reopenTimer);
    S.reopenTimer = setTimeout(() => { if (S.openId) send({ type: 'open', conversation_id: S.openId }); }, 250);
  };

  const onUpdate = (u) => {
    if (u.kind === 'brief' || u.kind === 'suggestion') { onAssist(u); return; }
    if (u.kind === 'ticket_done') { refreshCounts(); return; } // the welcome lists the open ones
    if (u.kind === 'offline_ticket') refreshCounts();
    if (u.kind === 'note' || u.type === 'note') { onNote(u); return; }
    scheduleRelist();
    if (u.status === 'queued' && (u.kind === 'handoff_requested' || u.kind === 'transferred')) notify('queued', u.conversation_id);
    if (u.conversation_id === S.openId && u.kind !== 'message' && u.kind !== 'visitor_message') scheduleReopen();
  };

  const onConversation = (c) => {
    if (!c || c.id !== S.openId) return;
    S.conv = {
      ...c,
      messages: (Array.isArray(c.messages) ? c.messages : []).slice().sort((a, b) => a.seq - b.seq),
      events: Array.isArray(c.events) ? c.events : [],
      notes: Array.isArray(c.notes) ? c.notes : [],
    };
    S.streams.clear();
    // Replies the server has stored are in the transcript now; the rest stay pending (and are resent).
    const stored = new Set(S.conv.messages.filter((m) => m.role === 'agent').map((m) => m.text));
    S.pending = S.pending.filter((p) => p.conversation_id !== c.id || p.state === 'failed' || !stored.has(p.text));
    renderConversation();
    markRead();
  };

  const isOpen = (f) => S.conv && (f.conversation_id == null || f.conversation_id === S.openId);

  const onMessage = (m) => {
    if (!isOpen(m)) return;
    const msgs = S.conv.messages;
    if (msgs.some((x) => x.id === m.id || (m.seq != null && x.seq === m.seq))) return;
    msgs.push(m);
    const last = msgs.length === 1 || msgs[msgs.length - 2].seq < m.seq;
    if (!last) msgs.sort((a, b) => a.seq - b.seq);
    if (m.role === 'user') setTyping('visitor', false);
    if (m.role === 'bot') { setTyping('bot', false); dropStream(m.reply_to); }
    if (m.role === 'agent') { confirmPending(m); if (m.author) setTyping('agent', false); }
    if (last) appendToTranscript(messageItem(m)); else renderTranscript();
    if (m.role === 'user') {
      if (document.hidden) { S.unseen += 1; renderTitle(); }
      if (S.conv.suggestion) { S.conv.suggestion = null; renderSuggestion(); } // it answered an older message
    }
    renderBriefTurns();
    markRead();
  };

  const onDelta = (d) => {
    if (!isOpen(d) || d.reply_to == null) return;
    if (S.conv.messages.some((m) => m.role === 'bot' && m.reply_to === d.reply_to)) return; // final already here
    let s = S.streams.get(d.reply_to);
    if (!s) {
      const body = h('div', { class: 'body' });
      const li = h('li', { class: 'msg role-bot streaming', 'aria-hidden': 'true', 'data-testid': 'streaming' },
        h('div', { class: 'who' }, h('span', { class: 'author', text: botName() })), body);
      s = { text: '', li, body };
      S.streams.set(d.reply_to, s);
      appendToTranscript(li);
    }
    if (d.offset === 0) s.text = String(d.text || '');
    else if (d.offset === s.text.length) s.text += String(d.text || '');
    else return; // a repeat, or a gap: the final message replaces the bubble anyway
    s.body.textContent = s.text;
    setTyping('bot', false);
    keepBottom();
  };
  const dropStream = (replyTo) => {
    const s = S.streams.get(replyTo);
    if (s) { s.li.remove(); S.streams.delete(replyTo); }
  };

  const onTyping = (f) => {
    if (!isOpen(f)) return;
    const role = f.role === 'visitor' || f.role === 'bot' || f.role === 'agent' ? f.role : null;
    if (!role) return;
    setTyping(role, Boolean(f.on), f.author && f.author.name);
  };
  const setTyping = (role, on, name) => {
    const cur = S.typing[role];
    if (cur) clearTimeout(cur.timer);
    if (on) S.typing[role] = { name, timer: setTimeout(() => setTyping(role, false), TYPING_SAFETY_MS) };
    else delete S.typing[role];
    renderTyping();
  };
  const renderTyping = () => {
    const parts = [];
    if (S.typing.visitor) parts.push(t('visitorTyping'));
    if (S.typing.bot) parts.push(t('botTyping'));
    if (S.typing.agent) parts.push(t('agentTyping', { name: S.typing.agent.name || t('agentAuthor') }));
    const el = $('typing');
    el.textContent = parts.join(' ');
    el.dataset.on = Object.keys(S.typing).join(' ');
  };

  const onHandoff = (f) => {
    if (!isOpen(f) || f.status === 'offline') return;
    S.conv.status = f.status;
    renderHead(); renderActions(); renderComposer();
    scheduleReopen(); // the events (who, when) come with the conversation
  };

  const onNote = (n) => {
    if (!isOpen(n)) return;
    if (S.conv.notes.some((x) => x.id === n.id)) return;
    S.conv.notes.push(n);
    appendToTranscript(noteItem(n));
  };

  const onAssist = (raw) => {
    const a = raw.assist || raw;
    if (!S.conv || (a.conversation_id != null && a.conversation_id !== S.openId)) return;
    if (a.kind === 'brief') {
      if (a.summary == null) { scheduleReopen(); return; }
      S.conv.brief = a; renderBrief();
    } else if (a.kind === 'suggestion') {
      if (a.text == null) { scheduleReopen(); return; }
      S.conv.suggestion = a; S.suggesting = false; renderSuggestion();
    }
  };

  // Offline messages (the widget's form when nobody could come), oldest first, until marked done.
  const renderTickets = () => {
    const items = S.tickets.items || [];
    $('tickets').hidden = items.length === 0;
    $('tickets-count').textContent = String(S.tickets.total || items.length);
    $('ticket-list').replaceChildren(...items.map(ticketItem));
  };
  const ticketItem = (tk) => h('li', { class: 'ticket', 'data-testid': 'ticket', 'data-ticket-id': String(tk.id) },
    h('div', { class: 'who' },
      h('span', { class: 'author', text: tk.name || tk.email }), ' ',
      h('a', { href: safeUrl(`mailto:${tk.email}`), text: tk.email, 'data-testid': 'ticket-email' }), ' · ',
      h('span', { text: (tk.bot && tk.bot.name) || '' }), ' ', timeEl(tk.created_at)),
    h('p', { class: 'body', 'data-testid': 'ticket-message', text: tk.message }),
    h('div', { class: 'ticket-actions' },
      tk.conversation_id ? h('button', { type: 'button', class: 'secondary', text: t('ticketOpen'), onclick: () => openConversation(tk.conversation_id) }) : null,
      h('button', { type: 'button', 'data-testid': 'ticket-done', text: t('ticketDone'), onclick: () => send({ type: 'ticket_done', ticket_id: tk.id }) })));

  const ACK_TEXT = { claim: 'ack_claim', return_to_bot: 'ack_return_to_bot', resolve: 'ack_resolve', reopen: 'ack_reopen', transfer: 'ack_transfer', note: 'ack_note', ticket_done: 'ack_ticket_done' };
  const onAck = (f) => {
    if (f.action === 'ticket_done') {
      const before = (S.tickets.items || []).length;
      S.tickets.items = (S.tickets.items || []).filter((tk) => tk.id !== f.ticket_id);
      S.tickets.total = Math.max(0, (S.tickets.total || 0) - (before - S.tickets.items.length));
      renderTickets();
      announce(t('ack_ticket_done'));
      return;
    }
    if (f.action === 'reply') {
      const p = S.pending.find((x) => x.conversation_id === f.conversation_id && x.state === 'sending');
      if (p) { p.state = 'sent'; renderPending(); }
      return;
    }
    if (ACK_TEXT[f.action]) announce(t(ACK_TEXT[f.action]));
    if (f.action in ACK_TEXT && f.action !== 'note') { scheduleRelist(); if (f.conversation_id === S.openId) scheduleReopen(); }
  };

  const onError = (f) => {
    if (!f.action) return; // a frame of the visitor's conversation (e.g. the bot failed): not ours to show
    if (f.action === 'read' || f.action === 'typing' || f.action === 'heartbeat') {
      if (f.action === 'read' && (f.code === 'unknown_type' || f.code === 'bad_frame')) S.readUnsupported = true;
      return;
    }
    if (f.action === 'open' && f.code === 'not_found') closeConversation();
    if (f.action === 'reply') {
      const p = S.pending.find((x) => x.state === 'sending' || x.state === 'sent');
      if (p) { p.state = 'failed'; p.error = f.code; renderPending(); }
    }
    if (f.action === 'suggest') { S.suggesting = false; renderSuggestion(); }
    const key = `err_${f.code}`;
    showAlert(t(key) !== key ? t(key) : t('err_generic', { detail: f.detail || f.code || '' }));
    if (['claim', 'return_to_bot', 'resolve', 'reopen', 'transfer'].includes(f.action)) { scheduleRelist(); scheduleReopen(); }
  };

  // -- the list --------------------------------------------------------------------------------
  const statusText = (c) => {
    if (c.status === 'assigned') {
      if (c.assigned_agent && S.me && c.assigned_agent.id === S.me.id) return t('st_assignedYou');
      return t('st_assigned', { name: (c.assigned_agent && c.assigned_agent.name) || t('agentAuthor') });
    }
    return t(`st_${c.status}`);
  };
  const waitingNow = (item) => (item.waiting_s == null ? null : item.waiting_s + (performance.now() - item.receivedAt) / 1000);
  const roleLabel = (role) => (role === 'user' ? t('visitor') : role === 'agent' ? t('agentAuthor') : t('botAuthor'));

  const itemOption = (item) => {
    const active = item.id === S.activeId;
    const unread = S.unread.get(item.id) || 0;
    const li = h('li', {
      id: `conv-${item.id}`, class: `item status-${item.status}`, role: 'option', 'aria-selected': String(active),
      'data-testid': 'item', 'data-id': item.id, 'data-status': item.status,
      onclick: () => { S.activeId = item.id; openConversation(item.id); },
    });
    const line1 = h('div', { class: 'line1' },
      h('span', { class: 'bot-name', text: item.bot ? item.bot.name : '' }),
      h('span', { class: 'conv-id', text: ` #${item.id}` }));
    if (item.priority > 0) line1.append(h('span', { class: 'badge prio', 'data-testid': 'priority', text: t('priority', { n: item.priority }) }));
    line1.append(h('span', { class: 'badge sla', 'data-testid': 'sla', hidden: true, text: t('overSla') }));
    if (unread > 0) line1.append(h('span', { class: 'badge unread', 'data-testid': 'unread', text: t('unread', { n: unread }) }));
    if (item.id === S.openId) line1.append(h('span', { class: 'visually-hidden', text: t('isOpen') }));
    const line2 = h('div', { class: 'line2' }, h('span', { class: 'status', text: statusText(item) }));
    if (item.waiting_s != null) line2.append(' · ', h('span', { class: 'wait', 'data-testid': 'waiting' }));
    li.append(line1, line2);
    if (item.last_message) {
      li.append(h('div', { class: 'last', 'data-testid': 'last-message' },
        h('span', { class: 'last-role', text: `${roleLabel(item.last_message.role)}: ` }), String(item.last_message.text || '')));
    }
    if (item.id === S.openId) li.classList.add('is-open');
    tickItem(li, item);
    return li;
  };

  const tickItem = (li, item) => {
    const w = waitingNow(item);
    const late = Boolean(item.sla_breached) || (w != null && item.status === 'queued' && w > (item.sla_seconds ?? S.sla));
    const sla = li.querySelector('.sla');
    if (sla) sla.hidden = !late;
    li.classList.toggle('late', late);
    const wait = li.querySelector('.wait');
    if (wait && w != null) wait.textContent = t('waiting', { t: duration(w) });
  };

  const renderList = () => {
    const ul = $('items');
    ul.replaceChildren(...S.items.map(itemOption));
    ul.setAttribute('aria-busy', 'false');
    if (S.activeId != null && S.items.some((i) => i.id === S.activeId)) ul.setAttribute('aria-activedescendant', `conv-${S.activeId}`);
    else ul.removeAttribute('aria-activedescendant');
    $('list-loading').hidden = true;
    const empty = $('empty');
    empty.hidden = S.items.length > 0;
    empty.textContent = S.view === 'mine' ? t('emptyMine') : t('empty');
    $('more').hidden = !S.next;
    renderTitle();
  };

  const setView = (view, fetch = true) => {
    S.view = view;
    root.querySelectorAll('.view').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.view === view)));
    if (fetch) { S.items = []; S.next = null; $('items').replaceChildren(); $('list-loading').hidden = false; $('empty').hidden = true; requestList('reset'); }
  };

  const move = (step) => {
    if (!S.items.length) return;
    const index = S.items.findIndex((i) => i.id === S.activeId);
    const next = index < 0 ? 0 : Math.max(0, Math.min(S.items.length - 1, index + step));
    setActive(S.items[next].id);
  };
  const setActive = (id) => {
    S.activeId = id;
    const ul = $('items');
    ul.querySelectorAll('[role=option]').forEach((li) => li.setAttribute('aria-selected', String(li.dataset.id === String(id))));
    ul.setAttribute('aria-activedescendant', `conv-${id}`);
    const li = $(`conv-${id}`);
    if (li) li.scrollIntoView({ block: 'nearest' });
  };

  // -- the open conversation -------------------------------------------------------------------
  // The open conversation survives a reload of the page (per tab, like the widget's open state).
  const OPEN_KEY = 'chatplatform:inbox:open';
  const remembered = () => {
    try { const id = Number(sessionStorage.getItem(OPEN_KEY)); return Number.isInteger(id) && id > 0 ? id : null; } catch (e) { return null; }
  };
  const remember = (id) => {
    try { if (id == null) sessionStorage.removeItem(OPEN_KEY); else sessionStorage.setItem(OPEN_KEY, String(id)); } catch (e) { /* private mode */ }
  };
  const openConversation = (id) => {
    if (id == null) return;
    if (id !== S.openId) {
      stopTyping();
      S.openId = id; S.activeId = id; S.conv = null; S.streams.clear(); remember(id); S.typing = {}; S.fromSuggestion = null; S.suggesting = false;
      $('none-open').hidden = true; $('open').hidden = false;
      $('transcript').replaceChildren(h('li', { class: 'state', text: t('loading') }));
      $('conv-title').textContent = t('convTitle', { id, bot: '' }).replace(/ · $/, '');
      $('conv-sub').textContent = '';
      renderTyping();
    }
    S.unread.set(id, 0);
    if (!send({ type: 'open', conversation_id: id })) showAlert(t('offlineAction'));
    renderList();
  };
  const closeConversation = () => {
    stopTyping();
    S.openId = null; S.conv = null; remember(null);
    $('open').hidden = true; $('none-open').hidden = false;
    renderList();
  };

  const isMine = () => Boolean(S.conv && S.conv.status === 'assigned' && S.conv.assigned_agent && S.me && S.conv.assigned_agent.id === S.me.id);
  const botName = () => (S.conv && S.conv.bot && S.conv.bot.name) || t('botAuthor');

  const renderConversation = () => {
    renderHead(); renderActions(); renderBrief(); renderTranscript(); renderSuggestion(); renderComposer(); renderTyping();
    $('transfer-form').hidden = true; $('transfer-toggle').setAttribute('aria-expanded', 'false');
  };

  const renderHead = () => {
    const c = S.conv;
    $('conv-title').textContent = t('convTitle', { id: c.id, bot: c.bot ? c.bot.name : '' });
    const sub = $('conv-sub');
    sub.dataset.status = c.status;
    sub.textContent = statusText(c);
    if (c.priority > 0) sub.append(' · ', t('priority', { n: c.priority }));
  };

  const ACTION_RULES = {
    claim: (c) => c.status === 'queued' || c.status === 'bot',
    transfer: () => isMine(),
    return_to_bot: (c) => c.status === 'queued' || isMine(),
    resolve: (c) => c.status === 'queued' || c.status === 'bot' || isMine(),
    reopen: (c) => c.status === 'resolved',
  };
  const actionAllowed = (action) => Boolean(S.conv && ACTION_RULES[action] && ACTION_RULES[action](S.conv));
  const renderActions = () => {
    root.querySelectorAll('[data-action]').forEach((b) => { b.disabled = !actionAllowed(b.dataset.action); });
    $('transfer-toggle').disabled = !actionAllowed('transfer') || !$('transfer-to').options.length;
    if ($('transfer-toggle').disabled) { $('transfer-form').hidden = true; $('transfer-toggle').setAttribute('aria-expanded', 'false'); }
  };

  const act = (action, extra) => {
    if (!S.openId || !S.conv) { announce(t('openFirst')); return; }
    if (!actionAllowed(action)) { announce(t('notNow')); return; }
    if (!send({ type: action, conversation_id: S.openId, ...(extra || {}) })) showAlert(t('offlineAction'));
  };

  const renderBrief = () => {
    const c = S.conv, brief = c.brief || null;
    const summary = $('brief-summary');
    summary.textContent = brief && brief.summary ? brief.summary : (c.status === 'queued' || c.status === 'assigned') ? t('briefPending') : t('briefNone');
    summary.classList.toggle('pending', !(brief && brief.summary));
    const verified = (brief && brief.identity && brief.identity.user_id) || (c.visitor && c.visitor.user_id) || '';
    const identity = $('brief-identity');
    identity.textContent = verified ? t('verified', { id: verified }) : t('anonymous');
    identity.classList.toggle('verified', Boolean(verified));
    $('brief-locale').textContent = (c.visitor && c.visitor.locale) || '–';
    const slots = Object.entries((brief && brief.slots) || c.slots || {}).filter(([, v]) => v != null && String(v).trim() !== '');
    const dl = $('brief-slots');
    dl.replaceChildren(...slots.map(([k, v]) => h('div', {}, h('dt', { text: k }), h('dd', { text: typeof v === 'object' ? JSON.stringify(v) : String(v) }))));
    if (!slots.length) dl.append(h('div', { class: 'none', text: t('noSlots') }));
    renderBriefTurns();
  };

  const nluText = (m) => {
    const parts = [m.intent || t('noIntent')];
    if (typeof m.confidence === 'number') parts[0] += ` ${Math.round(m.confidence * 100)}%`;
    const ents = (Array.isArray(m.entities) ? m.entities : []).map((e) => `${e.entity || e.type || '?'}=${typeof e.value === 'string' ? e.value : JSON.stringify(e.value)}`);
    if (ents.length) parts.push(ents.join(', '));
    return parts.join(' · ');
  };
  const renderBriefTurns = () => {
    if (!S.conv) return;
    const fromBrief = S.conv.brief && Array.isArray(S.conv.brief.turns) ? S.conv.brief.turns : null;
    const byId = new Map((fromBrief || []).map((x) => [x.seq, x]));
    // The conversation's own visitor messages carry the annotations too; newer ones than the brief's.
    const turns = S.conv.messages.filter((m) => m.role === 'user').map((m) => (byId.has(m.seq) && !m.intent ? { ...m, ...byId.get(m.seq) } : m));
    const ol = $('brief-turns');
    ol.replaceChildren(...turns.map((m) => h('li', { 'data-testid': 'turn' },
      h('span', { class: 'turn-text', text: `#${m.seq} “${String(m.text || '').slice(0, 80)}”` }), ' → ', h('span', { class: 'nlu', text: nluText(m) }))));
    if (!turns.length) ol.append(h('li', { class: 'none', text: t('noTurns') }));
  };

  const EVENT_ORDER = { event: 0, message: 1, note: 2 };
  const renderTranscript = () => {
    const c = S.conv;
    const rows = [
      ...c.messages.map((m) => ({ at: m.created_at, kind: 'message', seq: m.seq, el: () => messageItem(m) })),
      ...c.events.map((e) => ({ at: e.created_at, kind: 'event', seq: 0, el: () => eventItem(e) })),
      ...c.notes.map((n) => ({ at: n.created_at, kind: 'note', seq: 0, el: () => noteItem(n) })),
    ];
    rows.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : EVENT_ORDER[a.kind] - EVENT_ORDER[b.kind] || a.seq - b.seq));
    const ol = $('transcript');
    ol.replaceChildren(...rows.map((r) => r.el()));
    for (const s of S.streams.values()) ol.append(s.li);
    renderPending();
    ol.scrollTop = ol.scrollHeight;
  };

  const nearBottom = () => { const ol = $('transcript'); return ol.scrollHeight - ol.scrollTop - ol.clientHeight < 120; };
  const keepBottom = () => { const ol = $('transcript'); if (nearBottom()) ol.scrollTop = ol.scrollHeight; };
  // The transcript shrinks when a suggestion or the brief appears under or above it; a reader who
  // was at the bottom stays at the bottom instead of losing the newest lines out of view.
  const transcriptFollow = () => {
    const ol = $('transcript');
    let stuck = true;
    ol.addEventListener('scroll', () => { stuck = nearBottom(); }, { passive: true });
    if ('ResizeObserver' in window) new ResizeObserver(() => { if (stuck) ol.scrollTop = ol.scrollHeight; }).observe(ol);
  };
  const appendToTranscript = (li) => {
    const ol = $('transcript'), stick = nearBottom();
    const firstPending = ol.querySelector('.pending, .streaming');
    if (firstPending && !li.classList.contains('streaming') && !li.classList.contains('pending')) ol.insertBefore(li, firstPending);
    else ol.append(li);
    if (stick) ol.scrollTop = ol.scrollHeight;
  };

  const messageItem = (m) => {
    const role = m.role === 'user' || m.role === 'agent' ? m.role : 'bot';
    let author;
    if (role === 'user') author = t('visitor');
    else if (role === 'agent') {
      const name = (m.author && m.author.name) || t('agentAuthor');
      author = S.me && S.me.name === name ? t('youSuffix', { name }) : name;
    } else author = botName();
    const li = h('li', { class: `msg role-${role}`, 'data-testid': 'message', 'data-role': role, 'data-seq': m.seq },
      h('div', { class: 'who' }, h('span', { class: 'author', 'data-testid': 'author', text: author }), ' ', timeEl(m.created_at)),
      richText(h('div', { class: 'body', 'data-testid': 'text' }), m.text));
    if (role === 'user' && (m.intent !== undefined || m.confidence !== undefined)) li.append(h('div', { class: 'nlu', 'data-testid': 'nlu', text: nluText(m) }));
    return li;
  };

  const eventText = (e) => {
    const actor = e.actor || '', agent = e.agent || '', team = e.team || '';
    switch (e.kind) {
      case 'handoff_requested': return team ? t('ev_handoff_requested_team', { team }) : t('ev_handoff_requested');
      case 'assigned': return actor && actor !== agent ? t('ev_assigned_by', { actor, agent }) : t('ev_assigned', { agent: agent || t('someone') });
      case 'transferred': return agent ? t('ev_transferred_agent', { actor: actor || t('someone'), agent }) : t('ev_transferred_team', { actor: actor || t('someone'), team });
      case 'returned_to_bot': return actor ? t('ev_returned_to_bot_by', { actor }) : t('ev_returned_to_bot');
      case 'resolved': return actor ? t('ev_resolved_by', { actor }) : t('ev_resolved');
      case 'reopened': return actor ? t('ev_reopened_by', { actor }) : t('ev_reopened');
      case 'offline_ticket': return t('ev_offline_ticket');
      default: return String(e.kind || '');
    }
  };
  const eventItem = (e) => h('li', { class: 'event', 'data-testid': 'event', 'data-kind': e.kind },
    h('span', { class: 'event-text', text: eventText(e) + (e.reason ? ` — ${e.reason}` : '') }), ' ', timeEl(e.created_at));

  const noteItem = (n) => h('li', { class: 'note', 'data-testid': 'note' },
    h('div', { class: 'who' }, h('span', { class: 'note-label', text: t('noteBy', { name: n.author || t('agentAuthor') }) }), ' ', timeEl(n.created_at)),
    richText(h('div', { class: 'body' }), n.text));

  // Our replies before the server confirms them: shown greyed, resent after a reconnect.
  const renderPending = () => {
    const ol = $('transcript');
    ol.querySelectorAll('.pending').forEach((n) => n.remove());
    if (!S.conv) return;
    for (const p of S.pending.filter((x) => x.conversation_id === S.openId)) {
      const status = p.state === 'failed'
        ? h('span', { class: 'bad', 'data-testid': 'msg-status' }, `${t('notSent')} `, h('button', { type: 'button', class: 'link', onclick: () => { p.state = 'sending'; sendReply(p); renderPending(); }, text: t('retry') }))
        : h('span', { 'data-testid': 'msg-status', text: t('sending') });
      ol.append(h('li', { class: `msg role-agent pending ${p.state}`, 'data-testid': 'pending', 'data-state': p.state },
        h('div', { class: 'who' }, h('span', { class: 'author', text: t('youSuffix', { name: (S.me && S.me.name) || t('agentAuthor') }) }), ' ', status),
        richText(h('div', { class: 'body' }), p.text)));
    }
    keepBottom();
  };
  const sendReply = (p) => send({ type: 'reply', conversation_id: p.conversation_id, client_id: p.client_id, text: p.text, suggestion_id: p.suggestion_id });
  const confirmPending = (m) => {
    const mineNow = S.pending.filter((p) => p.conversation_id === S.openId);
    const p = mineNow.find((x) => x.text === m.text) || (m.author && S.me && m.author.name === S.me.name ? mineNow.find((x) => x.state === 'sent') : null);
    if (p) { S.pending = S.pending.filter((x) => x !== p); renderPending(); }
  };

  const markRead = () => {
    if (!S.conv || S.readUnsupported || document.hidden) return;
    const last = S.conv.messages.length ? S.conv.messages[S.conv.messages.length - 1].seq : 0;
    if (last && last !== S.conv.readSeq) { S.conv.readSeq = last; send({ type: 'read', conversation_id: S.conv.id, seq: last }); }
  };

  // -- copilot ---------------------------------------------------------------------------------
  const renderSuggestion = () => {
    const box = $('suggestion'), s = S.conv && S.conv.suggestion;
    const show = isMine() && (Boolean(s) || S.suggesting);
    box.hidden = !show;
    $('suggest').hidden = !isMine() || show || $('as-note').checked;
    if (!show) return;
    box.setAttribute('aria-busy', String(S.suggesting));
    $('suggestion-text').textContent = S.suggesting ? t('suggesting') : s.text;
    $('suggestion-use').disabled = S.suggesting || !s;
    $('suggestion-discard').disabled = S.suggesting || !s;
    $('suggestion-regenerate').disabled = S.suggesting;
  };
  const suggestionUse = () => {
    const s = S.conv && S.conv.suggestion;
    if (!s) return;
    $('as-note').checked = false;
    $('reply').value = s.text;
    S.fromSuggestion = { id: s.id, text: s.text };
    renderComposer();
    $('reply').focus();
  };
  const suggestionDiscard = () => {
    const s = S.conv && S.conv.suggestion;
    if (!s) return;
    send({ type: 'suggestion_discard', suggestion_id: s.id });
    S.conv.suggestion = null;
    if (S.fromSuggestion && S.fromSuggestion.id === s.id) S.fromSuggestion = null;
    renderSuggestion();
    $('reply').focus();
  };
  const suggestionRequest = () => {
    if (!S.conv || !send({ type: 'suggest', conversation_id: S.conv.id })) return;
    S.suggesting = true;
    renderSuggestion();
  };

  // -- composer --------------------------------------------------------------------------------
  const renderComposer = () => {
    const note = $('as-note').checked, reply = $('reply');
    $('composer').classList.toggle('note-mode', note);
    $('reply-label').textContent = note ? t('noteLabel') : t('reply');
    reply.placeholder = note ? t('notePlaceholder') : isMine() ? t('replyPlaceholder') : t('claimToReply');
    const button = $('send');
    button.textContent = note ? t('addNote') : t('send');
    button.disabled = !S.conv || (!note && !isMine());
    renderSuggestion();
  };

  const submit = () => {
    const box = $('reply'), text = box.value.trim();
    if (!text || !S.conv) return;
    if ($('as-note').checked) {
      if (send({ type: 'note', conversation_id: S.conv.id, text })) box.value = '';
      else showAlert(t('offlineAction'));
      return;
    }
    if (!isMine()) { announce(t('claimToReply')); return; }
    // The copilot's outcome (sent as is or edited) is told by the suggestion_id on the reply.
    const suggestionId = S.fromSuggestion ? S.fromSuggestion.id : null;
    const p = { client_id: uuid(), conversation_id: S.conv.id, text, suggestion_id: suggestionId, state: 'sending' };
    S.pending.push(p);
    if (!sendReply(p)) p.state = 'sending'; // sent after the next welcome
    box.value = '';
    S.fromSuggestion = null;
    if (suggestionId != null && S.conv.suggestion && S.conv.suggestion.id === suggestionId) { S.conv.suggestion = null; renderSuggestion(); }
    stopTyping();
    closeCanned();
    renderPending();
  };

  const typingKeystroke = () => {
    if (!S.conv || $('as-note').checked || !isMine()) return;
    if (!S.typingOn) { S.typingOn = send({ type: 'typing', conversation_id: S.conv.id, on: true }); }
    clearTimeout(S.typingTimer);
    S.typingTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
  };
  const stopTyping = () => {
    clearTimeout(S.typingTimer);
    if (S.typingOn && S.conv) send({ type: 'typing', conversation_id: S.conv.id, on: false });
    S.typingOn = false;
  };

  // Canned replies: "/" + shortcut at the start of the box lists the matching ones.
  const cannedMatches = () => {
    const m = /^\/(\S*)$/.exec($('reply').value);
    if (!m || !S.canned.length) return [];
    const q = m[1].toLowerCase();
    return S.canned.filter((c) => String(c.shortcut).toLowerCase().startsWith(q)).slice(0, 8);
  };
  const renderCanned = () => {
    const list = $('canned'), matches = cannedMatches(), box = $('reply');
    if (!matches.length) { closeCanned(); return; }
    S.cannedActive = Math.min(Math.max(S.cannedActive, 0), matches.length - 1);
    list.replaceChildren(...matches.map((c, i) => h('li', {
      id: `canned-${i}`, role: 'option', 'aria-selected': String(i === S.cannedActive), 'data-testid': 'canned-option',
      onmousedown: (e) => { e.preventDefault(); cannedInsert(c); },
    }, h('span', { class: 'shortcut', text: `/${c.shortcut}` }), ' ', h('span', { class: 'canned-text', text: c.text }))));
    list.hidden = false;
    box.setAttribute('aria-expanded', 'true');
    box.setAttribute('aria-activedescendant', `canned-${S.cannedActive}`);
  };
  const closeCanned = () => {
    $('canned').hidden = true; $('canned').replaceChildren();
    $('reply').setAttribute('aria-expanded', 'false'); $('reply').removeAttribute('aria-activedescendant');
    S.cannedActive = -1;
  };
  const cannedInsert = (c) => { $('reply').value = c.text; closeCanned(); $('reply').focus(); };

  // -- transfer --------------------------------------------------------------------------------
  const renderTransferOptions = () => {
    const select = $('transfer-to'), keep = select.value;
    const groups = [];
    const agents = S.agents.filter((a) => !S.me || a.id !== S.me.id);
    if (agents.length) groups.push(h('optgroup', { label: t('agentsGroup') }, ...agents.map((a) => h('option', { value: `agent:${a.id}`, text: `${a.name} (${t(a.presence || 'offline')})` }))));
    if (S.teams.length) groups.push(h('optgroup', { label: t('teamsGroup') }, ...S.teams.map((x) => h('option', { value: `team:${x.id}`, text: x.name }))));
    select.replaceChildren(...groups);
    if (keep) select.value = keep;
    if (S.conv) renderActions();
  };
  const transferToggle = (open) => {
    const form = $('transfer-form');
    form.hidden = !open;
    $('transfer-toggle').setAttribute('aria-expanded', String(open));
    if (open) $('transfer-to').focus(); else $('transfer-toggle').focus();
  };
  const transferSubmit = (e) => {
    e.preventDefault();
    const [kind, id] = String($('transfer-to').value).split(':');
    if (!id) return;
    act('transfer', kind === 'agent' ? { to_agent_id: Number(id) } : { to_team_id: Number(id) });
    transferToggle(false);
  };

  // -- header: presence, bot filter, notifications, title -------------------------------------
  const renderPresence = () => {
    const select = $('presence');
    select.disabled = false;
    if (S.me && S.me.presence) select.value = S.me.presence;
  };
  const renderBotFilter = () => {
    const select = $('bot-filter'), keep = select.value;
    select.replaceChildren(h('option', { value: '', text: t('allBots') }), ...S.bots.map((b) => h('option', { value: String(b.id), text: b.name })));
    select.value = S.bots.some((b) => String(b.id) === keep) ? keep : '';
    select.closest('label').hidden = S.bots.length < 2;
  };

  const renderNotifyState = () => {
    const button = $('notify-enable'), state = $('notify-state');
    if (!('Notification' in window)) { button.hidden = true; state.hidden = true; return; }
    const p = Notification.permission;
    button.hidden = p !== 'default';
    state.hidden = p === 'default';
    state.dataset.permission = p;
    state.textContent = p === 'granted' ? t('notifyOn') : t('notifyDenied');
  };
  const notifyEnable = () => {
    if (!('Notification' in window)) return;
    const done = () => renderNotifyState();
    try {
      const asked = Notification.requestPermission(done);
      if (asked && asked.then) asked.then(done, done);
    } catch (e) { done(); }
  };

  // A short two-note chime made with the Web Audio API (no sound file). Browsers keep audio locked
  // until the page was used, so the context is created on the first click or key press.
  const audioUnlock = () => {
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!AC || S.audio) return;
    try { S.audio = new AC(); } catch (e) { S.audio = null; }
  };
  const chime = () => {
    S.chimes += 1;
    root.dataset.chimes = String(S.chimes);
    if (!$('sound').checked) return;
    audioUnlock();
    const ctx = S.audio;
    if (!ctx) return;
    try {
      if (ctx.state === 'suspended') ctx.resume().catch(() => {});
      const now = ctx.currentTime;
      [[880, 0], [1318.5, 0.15]].forEach(([freq, at]) => {
        const osc = ctx.createOscillator(), gain = ctx.createGain();
        osc.type = 'sine'; osc.frequency.value = freq;
        gain.gain.setValueAtTime(0.0001, now + at);
        gain.gain.exponentialRampToValueAtTime(0.08, now + at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.2);
        osc.connect(gain); gain.connect(ctx.destination);
        osc.start(now + at); osc.stop(now + at + 0.22);
      });
    } catch (e) { /* no sound: the list, the title and the announcement still say it */ }
  };

  const notify = (kind, conversationId, title, body) => {
    if (conversationId == null) return;
    const key = `${kind}:${conversationId}`, now = Date.now();
    if (now - (S.notified.get(key) || 0) < NOTIFY_DEDUPE_MS) return;
    S.notified.set(key, now);
    const assigned = kind === 'assigned';
    const heading = title || t(assigned ? 'notifyAssignedTitle' : 'notifyQueuedTitle');
    const text = body || t(assigned ? 'notifyAssignedBody' : 'notifyQueuedBody', { id: conversationId });
    announce(`${heading}. ${text}`);
    chime();
    if (document.hidden || !document.hasFocus()) { S.unseen += 1; renderTitle(); }
    if ('Notification' in window && Notification.permission === 'granted') {
      try {
        const n = new Notification(heading, { body: text, tag: `chatplatform-inbox-${key}`, lang: LANG });
        n.onclick = () => { window.focus(); S.activeId = conversationId; openConversation(conversationId); n.close(); };
      } catch (e) { /* e.g. Android Chrome wants a service worker: the in-page notice stays */ }
    }
    if (assigned || S.view !== 'mine') scheduleRelist();
  };

  const renderTitle = () => {
    let unread = S.unseen;
    for (const n of S.unread.values()) unread += n;
    document.title = unread > 0 ? `(${unread}) ${baseTitle}` : baseTitle;
  };
  const seen = () => { if (!document.hidden && S.unseen) { S.unseen = 0; renderTitle(); } markRead(); };

  // -- help ------------------------------------------------------------------------------------
  const helpOpen = () => {
    const d = $('help');
    if (d.open) return;
    if (d.showModal) d.showModal(); else d.setAttribute('open', '');
    $('help-close').focus();
  };
  const helpClose = () => {
    const d = $('help');
    if (d.close) d.close(); else d.removeAttribute('open');
    $('help-open').focus();
  };

  // -- keyboard --------------------------------------------------------------------------------
  const SHORTCUTS = {
    j: () => move(1),
    k: () => move(-1),
    Enter: () => { if (S.activeId != null) openConversation(S.activeId); },
    c: () => { if (!S.openId && S.activeId != null) openConversation(S.activeId); else act('claim'); },
    r: () => { if (S.conv) $('reply').focus(); else announce(t('openFirst')); },
    e: () => act('resolve'),
    b: () => act('return_to_bot'),
    '?': helpOpen,
  };
  const onKeydown = (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
    const target = e.target instanceof Element ? e.target : document.body;
    if (e.key === 'Escape') {
      if (!$('canned').hidden) { closeCanned(); e.preventDefault(); return; }
      if (!$('transfer-form').hidden && target.closest('#transfer-form')) { transferToggle(false); e.preventDefault(); return; }
      // Out of the reply box or any other field (the note switch, a search): shortcuts apply again.
      if (target.closest('input, textarea')) { target.blur(); $('items').focus(); e.preventDefault(); }
      return;
    }
    if ($('help').open) return;
    if (target.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"]')) return;
    if (e.key === 'Enter' && target.closest('button, a, summary, [role=option] button')) return; // Enter activates them
    const action = SHORTCUTS[e.key];
    if (!action) return;
    e.preventDefault();
    action();
  };
  const onListKeydown = (e) => {
    const keys = { ArrowDown: () => move(1), ArrowUp: () => move(-1), Home: () => S.items[0] && setActive(S.items[0].id), End: () => S.items.length && setActive(S.items[S.items.length - 1].id) };
    if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
  };
  const onReplyKeydown = (e) => {
    const canned = !$('canned').hidden;
    if (canned && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
      e.preventDefault();
      S.cannedActive += e.key === 'ArrowDown' ? 1 : -1;
      renderCanned();
      return;
    }
    if (canned && (e.key === 'Enter' || e.key === 'Tab') && !e.shiftKey) {
      const match = cannedMatches()[S.cannedActive];
      if (match) { e.preventDefault(); cannedInsert(match); return; }
    }
    // Enter sends, Shift+Enter is a new line; not while an IME composition is open (Chinese input).
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); submit(); }
  };

  // -- wiring ----------------------------------------------------------------------------------
  const bind = () => {
    relabel();
    renderNotifyState();
    root.querySelectorAll('.view').forEach((b) => b.addEventListener('click', () => { S.viewChosen = true; if (b.dataset.view !== S.view) setView(b.dataset.view); }));
    $('bot-filter').addEventListener('change', (e) => { S.botId = e.target.value ? Number(e.target.value) : null; setView(S.view); });
    $('items').addEventListener('keydown', onListKeydown);
    $('items').addEventListener('focus', () => { if (S.activeId == null && S.items.length) setActive(S.items[0].id); });
    $('more').addEventListener('click', () => requestList('more'));
    root.querySelectorAll('[data-action]').forEach((b) => b.addEventListener('click', () => act(b.dataset.action)));
    $('transfer-toggle').addEventListener('click', () => transferToggle($('transfer-form').hidden));
    $('transfer-cancel').addEventListener('click', () => transferToggle(false));
    $('transfer-form').addEventListener('submit', transferSubmit);
    $('presence').addEventListener('change', (e) => { if (!send({ type: 'presence', presence: e.target.value })) showAlert(t('offlineAction')); });
    $('composer').addEventListener('submit', (e) => { e.preventDefault(); submit(); });
    $('reply').addEventListener('keydown', onReplyKeydown);
    $('reply').addEventListener('input', () => { typingKeystroke(); renderCanned(); if (S.fromSuggestion && !$('reply').value) S.fromSuggestion = null; });
    $('reply').addEventListener('blur', () => { stopTyping(); setTimeout(closeCanned, 150); });
    $('as-note').addEventListener('change', () => { stopTyping(); renderComposer(); });
    $('suggest').addEventListener('click', suggestionRequest);
    $('suggestion-use').addEventListener('click', suggestionUse);
    $('suggestion-discard').addEventListener('click', suggestionDiscard);
    $('suggestion-regenerate').addEventListener('click', suggestionRequest);
    $('notify-enable').addEventListener('click', notifyEnable);
    $('help-open').addEventListener('click', helpOpen);
    $('help-close').addEventListener('click', helpClose);
    $('help').addEventListener('close', () => $('help-open').focus());
    $('conn-retry').addEventListener('click', retryNow);
    transcriptFollow();
    document.addEventListener('keydown', onKeydown);
    document.addEventListener('pointerdown', audioUnlock, { once: true });
    document.addEventListener('keydown', audioUnlock, { once: true });
    document.addEventListener('visibilitychange', () => { if (!document.hidden) { seen(); retryNow(); } });
    window.addEventListener('focus', seen);
    window.addEventListener('online', retryNow);
    // The browser says the network is gone: the socket is dead even if it has not noticed yet.
    window.addEventListener('offline', () => { if (S.ws) S.ws.close(); });
    // One clock for the waiting times in the list and the reconnect countdown.
    setInterval(() => {
      S.items.forEach((item) => { const li = $(`conv-${item.id}`); if (li) tickItem(li, item); });
      if (!S.ws && S.retryAt) setConn('down', Math.max(0, Math.ceil((S.retryAt - Date.now()) / 1000)));
    }, 1000);
  };

  bind();
  connect();
})();
