// The widget's UI: the shadow-root DOM, rendering, streaming, feedback/CSAT, open/close, keyboard,
// the browser's events and the public JS API (window.ChatPlatform). The connection and the
// conversation's bookkeeping are the protocol client's (client.js); this file shows what it reports.
import { STR, pickLang, translate } from './strings.js';
import { h, icon } from './dom.js';
import { md, safeUrl, link } from './markdown.js';
import { applyTheme } from './theme.js';
import { CSS } from './styles.js';
import { createStore, webStorage, uuid } from './store.js';
import { createClient } from './client.js';

const cps = (s) => Array.from(s); // offsets count Unicode code points (server-side len())

export const createWidget = ({ key, ds, wsUrl, queued }) => {
  const W = window, D = document;
  const CSAT_IDLE_MS = (+ds.csatIdle || 180) * 1000;
  const store = createStore(key, { local: webStorage('localStorage'), session: webStorage('sessionStorage') });
  const { load, save, sGet, sSet } = store;

  // --------------------------------------------------------------- the DOM
  const host = D.createElement('chatplatform-widget');
  host.style.setProperty('all', 'initial', 'important');
  const root = host.attachShadow({ mode: 'open' });
  if (root.adoptedStyleSheets && W.CSSStyleSheet && 'replaceSync' in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet(); sheet.replaceSync(CSS); root.adoptedStyleSheets = [sheet];
  } else root.append(h('style', { text: CSS }));

  const texts = []; // [element, attribute|null, key, vars?] re-applied when the language changes
  const T = (el, attr, key, vars) => { texts.push([el, attr, key, vars]); return el; };
  const lbl = (text) => T(h('span'), null, text);

  const wrap = h('div', { class: 'root', part: 'root' });
  const badge = h('span', { class: 'badge', hidden: true, 'aria-hidden': 'true', 'data-testid': 'unread' });
  const launcher = h('button', { class: 'launcher', type: 'button', 'aria-expanded': 'false', 'aria-controls': 'cp-panel', 'data-testid': 'launcher', hidden: true, onclick: () => toggle() }, icon('chat', 'i1'), icon('down', 'i2'), badge);
  const hdAv = h('div', { class: 'av', 'aria-hidden': 'true' });
  const title = h('h2', { id: 'cp-title', 'data-testid': 'title' });
  const stTxt = h('span', { 'data-testid': 'status-text' });
  const status = h('div', { class: 'st', role: 'status', 'data-testid': 'status', 'data-state': 'connecting' }, h('span', { class: 'dot' }), stTxt);
  const newBtn = h('button', { type: 'button', role: 'menuitem', 'data-testid': 'new-conversation', onclick: () => { menuOpen(false, true); reset(); } }, icon('plus'), lbl('newConv'));
  const endBtn = h('button', { type: 'button', role: 'menuitem', 'data-testid': 'end-chat', onclick: () => { menuOpen(false, true); showCsat(true); } }, icon('end'), lbl('endChat'));
  const menu = h('div', { class: 'menu', role: 'menu', hidden: true, 'data-testid': 'menu-list' }, newBtn, endBtn);
  const menuBtn = T(h('button', { class: 'ib', type: 'button', 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'data-testid': 'menu', onclick: () => menuOpen(menu.hidden) }, icon('more')), 'aria-label', 'menu');
  const closeBtn = T(h('button', { class: 'ib', type: 'button', 'data-testid': 'close', onclick: () => close(true) }, icon('down')), 'aria-label', 'close');
  const header = h('div', { class: 'hd' }, hdAv, h('div', { class: 'ttl' }, title, status), menuBtn, closeBtn, menu);
  const log = h('div', { role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', 'data-testid': 'messages' });
  const streamBox = h('div', { 'aria-hidden': 'true' });
  const typingTxt = h('span', { class: 'sr' });
  const typingAv = h('div', { class: 'av', 'aria-hidden': 'true' });
  const typingRow = h('div', { class: 'row bot typing', hidden: true, 'data-testid': 'typing' }, typingAv, h('div', { class: 'bub' }, h('i'), h('i'), h('i')), typingTxt);
  const qr = h('div', { class: 'qr', hidden: true, 'data-testid': 'quick-replies' });
  const csat = h('div', { class: 'csat', role: 'group', 'aria-labelledby': 'cp-csat-q', hidden: true, 'data-testid': 'csat' });
  const tkBox = h('div', { class: 'csat tk', hidden: true, 'data-testid': 'offline-form' }); // the offline form (handoff "offline")
  const scroller = h('div', { class: 'scroll', 'data-testid': 'scroll' }, log, streamBox, h('div', { role: 'status' }, typingRow), qr, tkBox, csat);
  const notice = h('div', { class: 'notice', role: 'alert', hidden: true, 'data-testid': 'notice' });
  const input = T(T(h('textarea', { rows: '1', 'data-testid': 'input', enterkeyhint: 'send', autocomplete: 'off' }), 'placeholder', 'placeholder'), 'aria-label', 'placeholder');
  const sendBtn = T(h('button', { class: 'send', type: 'submit', disabled: true, 'data-testid': 'send' }, icon('send')), 'aria-label', 'send');
  const form = h('form', { class: 'comp', onsubmit: (e) => { e.preventDefault(); submit(); } }, input, sendBtn);
  const panel = h('div', { class: 'panel', id: 'cp-panel', role: 'dialog', 'aria-labelledby': 'cp-title', hidden: true, 'data-testid': 'panel' }, header, scroller, notice, form);
  const greetRow = h('div', { class: 'row bot', hidden: true });
  const greetBub = h('div', { class: 'bub', 'data-testid': 'greeting', 'data-role': 'bot' });
  greetRow.append(h('div', { class: 'av', 'aria-hidden': 'true' }), h('div', { class: 'col' }, greetBub));
  greetRow._seq = -1;
  log.append(greetRow);
  wrap.append(launcher, panel);
  root.append(wrap);

  // ----------------------------------------------------------------- state
  let isOpen = false, lang = pickLang(ds.locale || (load().bot || {}).language), bot = {};
  let readyFired = false, readyData = null, typingT = 0, idleT = 0;
  let booted = false, typingOn = false, sentTypingAt = 0, typingOffT = 0, noticeT = 0, stick = true, lastMsg = null;
  let hNote = null, tk = null; // the latest handoff notice (updated in place); the offline form's parts
  let withPerson = false; // queued or assigned: a quiet spell is waiting for a person, not the end (no idle CSAT)
  const botSeqs = [];
  const views = new Map(); // client_id -> {row, bub, meta} of a visitor message not yet stored
  const streams = new Map(); // reply_to -> {row, bub, text, n, raf}
  const handlers = {};

  const t = (k, vars) => translate(lang, k, vars);
  const emit = (ev, data) => (handlers[ev] || []).slice().forEach((fn) => { try { fn(data); } catch (e) { console.error(e); } });
  const botName = () => bot.title || bot.name || t('title');
  /** A message author / typing agent / handoff agent as shown: a name always (the server's may be empty). */
  const agentOf = (a) => ({ name: String((a && a.name) || '').trim() || t('agent'), avatar_url: a && a.avatar_url });

  // ------------------------------------------------------------- rendering
  const applyText = () => {
    wrap.setAttribute('lang', lang === 'zh-hans' ? 'zh-Hans' : 'en');
    for (const [el, attr, key, vars] of texts) { const v = t(key, vars); if (attr) el.setAttribute(attr, v); else el.textContent = v; }
    title.textContent = botName();
    paintTyping();
    setStatus(status.dataset.state, stTxt.dataset.k);
    updateUnread();
    for (const m of root.querySelectorAll('[data-who]')) m.textContent = (m.dataset.who === 'user' ? t('you') : botName()) + ': ';
    for (const r of root.querySelectorAll('.row.bot[data-id]')) paintFb(r);
    for (const el of root.querySelectorAll('.tm[data-at]')) el.textContent = fmtTime(el.dataset.at);
    for (const el of root.querySelectorAll('.srcl')) el.textContent = t('sources');
    for (const el of root.querySelectorAll('.hn')) el.textContent = handoffText(el._h);
    if (!csat.hidden) renderCsat(csat._done);
  };
  const fillAv = (el) => { // el._who: an agent ({name, avatar_url}); otherwise the bot
    const who = el._who || { name: botName(), avatar_url: bot.avatar_url };
    const src = who.avatar_url && safeUrl(who.avatar_url), initial = (Array.from(who.name.trim())[0] || '?').toUpperCase();
    el.textContent = '';
    if (src && /^https?:/.test(src)) {
      el.append(h('img', { src, alt: '', referrerpolicy: 'no-referrer', onerror: (e) => { e.target.remove(); el.textContent = initial; } }));
    } else el.textContent = initial;
  };
  const paintAvatars = () => root.querySelectorAll('.av').forEach(fillAv);
  const fmtTime = (at) => {
    const d = new Date(at);
    if (isNaN(d)) return '';
    try { return d.toLocaleTimeString(lang === 'zh-hans' ? 'zh-CN' : undefined, { hour: 'numeric', minute: '2-digit' }); } catch (e) { return ''; }
  };
  const nearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
  scroller.addEventListener('scroll', () => { stick = nearBottom(); }, { passive: true });
  const toBottom = (force) => { if (force || stick) requestAnimationFrame(() => { scroller.scrollTop = scroller.scrollHeight; }); };

  const place = (row, seq) => { // keep rows ordered by seq; rows without one (pending) stay last
    row._seq = seq == null ? Infinity : seq;
    const after = Array.from(log.children).find((c) => c !== row && c._seq > row._seq);
    log.insertBefore(row, after || null);
  };

  const msgRow = (m) => { // agent messages look like the bot's, with the person's name and avatar
    const isBot = m.role !== 'user', agent = m.role === 'agent' && agentOf(m.author);
    const bub = h('div', { class: 'bub', 'data-testid': 'message', 'data-role': agent ? 'agent' : isBot ? 'bot' : 'user' });
    const who = agent ? h('div', { class: 'nm', 'data-testid': 'author', text: agent.name })
      : h('div', { class: 'sr' }, h('span', { 'data-who': isBot ? 'bot' : 'user', text: (isBot ? botName() : t('you')) + ': ' }));
    const meta = h('div', { class: 'meta' });
    const col = h('div', { class: 'col' }, who, bub);
    const row = h('div', { class: 'row ' + (isBot ? 'bot' : 'user') + (agent ? ' agent' : '') });
    if (isBot) { const av = h('div', { class: 'av', 'aria-hidden': 'true' }); av._who = agent; row.append(av, col); fillAv(av); } else row.append(col);
    col.append(meta);
    if (m.seq != null) bub.dataset.seq = m.seq;
    if (m.id != null) { bub.dataset.id = m.id; row.dataset.id = m.id; }
    if (isBot) md(m.text, bub); else bub.textContent = String(m.text == null ? '' : m.text);
    if (m.created_at) meta.append(h('span', { class: 'tm', 'data-at': m.created_at, text: fmtTime(m.created_at) }));
    if (isBot && !agent && m.id != null) { // thumbs rate the bot's answers, not a person
      for (const r of ['up', 'down']) {
        meta.append(h('button', { class: 'fb', type: 'button', 'aria-pressed': 'false', 'data-testid': 'feedback-' + r, 'data-rating': r, onclick: () => feedback(m.id, r, row) }, icon(r === 'up' ? 'up' : 'dn')));
      }
      paintFb(row);
    }
    const cites = Array.isArray(m.citations) ? m.citations.filter((c) => c && (c.title || c.url)) : [];
    if (isBot && cites.length) {
      const box = h('div', { class: 'cites' }, h('span', { class: 'srcl', text: t('sources') }));
      for (const c of cites.slice(0, 8)) {
        const u = c.url && safeUrl(c.url), txt = String(c.title || c.url);
        box.append(u ? link(u, txt) : h('span', { class: 'c', text: txt }));
      }
      bub.after(box);
    }
    return { row, bub, meta };
  };
  const paintFb = (row) => {
    const r = (load().fb || {})[row.dataset.id];
    for (const b of row.querySelectorAll('.fb')) { b.setAttribute('aria-pressed', String(b.dataset.rating === r)); b.title = t(b.dataset.rating); b.setAttribute('aria-label', b.title); }
  };

  const setStatus = (s, k) => { // k: a text other than the state's own ('retrying')
    status.dataset.state = s;
    stTxt.dataset.k = k || s;
    stTxt.textContent = t(k || s);
    if (s === 'offline') stTxt.setAttribute('data-testid', 'offline'); else stTxt.setAttribute('data-testid', 'status-text');
  };
  const paintTyping = () => {
    const who = typingAv._who;
    typingTxt.textContent = t('typing', { name: who ? who.name : botName() });
    typingTxt.className = who ? 'who' : 'sr'; // a person's name is shown; the bot's only read out
  };
  const setTyping = (on, who) => { // who: the typing agent, null: the bot, undefined: unchanged
    if (who !== undefined) { typingAv._who = who; fillAv(typingAv); paintTyping(); }
    typingOn = on;
    clearTimeout(typingT);
    if (on) typingT = setTimeout(() => setTyping(false), 30000); // a lost "off" frame must not spin forever
    typingRow.hidden = !(on && !streams.size);
    if (!typingRow.hidden) toBottom();
  };
  const updateQr = () => {
    qr.textContent = '';
    const m = lastMsg;
    const list = m && m.role !== 'user' && !client.pendingCount && !streams.size && Array.isArray(m.quick_replies) ? m.quick_replies.slice(0, 12) : [];
    for (const q of list) qr.append(h('button', { type: 'button', 'data-testid': 'quick-reply', onclick: () => quick(String(q)) }, String(q)));
    qr.hidden = !list.length;
  };
  const updateUnread = () => {
    const read = load().read || 0;
    const n = isOpen ? 0 : botSeqs.filter((s) => s > read).length;
    badge.textContent = n > 9 ? '9+' : String(n);
    badge.hidden = !n;
    launcher.setAttribute('aria-label', isOpen ? t('close') : t('open') + (n ? ' (' + t('unread', { n }) + ')' : ''));
  };
  const showNotice = (msg, ms) => {
    notice.textContent = '';
    notice.append(h('span', { text: msg }), h('button', { type: 'button', 'aria-label': t('dismiss'), onclick: hideNotice }, icon('x')));
    notice.hidden = false;
    clearTimeout(noticeT);
    if (ms !== 0) noticeT = setTimeout(hideNotice, ms || 7000);
  };
  const hideNotice = () => { notice.hidden = true; notice.textContent = ''; };

  // --------------------------------------------------------------- handoff
  const handoffText = (s) => {
    const wait = s.expected_wait_s == null ? '' : t('hWait', { n: Math.max(1, Math.ceil(s.expected_wait_s / 60)) });
    if (s.status === 'queued') return t(s.position == null ? 'hQueued' : 'hQueuedAt', { position: s.position, wait });
    if (s.status === 'assigned') return t('hAssigned', { name: agentOf(s.agent).name });
    if (s.status === 'resolved') return t('hResolved', { name: s.agent ? agentOf(s.agent).name : t('team') });
    return t(s.status === 'offline' ? 'hOffline' : 'hBot');
  };
  // A notice in the transcript (role=log: read out politely) after the messages seen so far; a new
  // queue position or wait rewrites the current notice instead of adding one.
  const showHandoff = (s, isNew) => {
    if (isNew) {
      hNote = h('div', { class: 'hn', 'data-testid': 'handoff', 'data-status': s.status });
      place(hNote, client.maxSeq + 0.5);
      toBottom();
    }
    if (hNote) { hNote._h = s; hNote.textContent = handoffText(s); }
    tkBox.hidden = s.status !== 'offline';
    withPerson = /^(queued|assigned)$/.test(s.status);
    if (isNew && s.status === 'offline') renderTicket(true);
  };
  const renderTicket = (focus) => {
    tkBox.textContent = '';
    tk = null;
    if (load().ticket) { // sent (this offline period, maybe before a reload)
      const p = tkBox.appendChild(h('p', { role: 'status', tabindex: '-1', 'data-testid': 'offline-thanks', text: t('tkThanks') }));
      if (focus && isOpen) p.focus();
      return;
    }
    tk = {
      name: h('input', { name: 'name', autocomplete: 'name' }),
      email: h('input', { name: 'email', type: 'email', required: true, autocomplete: 'email' }),
      message: h('textarea', { name: 'message', required: true, rows: '3' }),
      err: h('p', { class: 'bad', role: 'alert', hidden: true, 'data-testid': 'ticket-error' }),
      send: h('button', { class: 'nb', type: 'submit', 'data-testid': 'ticket-send', text: t('send') }),
    };
    // texts filled now (lbl() waits for the next applyText) and on a language change
    const say = (tag, k, attrs) => T(h(tag, Object.assign({ text: t(k) }, attrs)), null, k);
    const lab = (k, el) => h('label', null, say('span', k), el); // the label element names its field
    tkBox.append(h('form', { 'aria-labelledby': 'cp-tk-t', onsubmit: (e) => { e.preventDefault(); sendTicket(); } },
      say('p', 'tkTitle', { id: 'cp-tk-t' }), lab('tkName', tk.name), lab('tkEmail', tk.email), lab('tkMsg', tk.message), tk.err, tk.send));
    const first = tk.name;
    if (focus && isOpen) requestAnimationFrame(() => first.focus());
  };
  const sendTicket = () => { // the browser has checked `required` and the e-mail's form already
    if (client.ticketPending) return;
    if (!tk.message.value.trim()) { tk.message.focus(); return; }
    tk.err.hidden = true;
    tk.send.textContent = t('sending');
    client.ticket({ name: tk.name.value, email: tk.email.value, message: tk.message.value });
  };
  const ticketFailed = (f) => { // the server's detail says what was wrong with the form (e.g. the e-mail)
    if (!tk) return;
    tk.send.textContent = t('send');
    tk.err.textContent = STR.en[f.code] ? t(f.code) : String(f.detail || t('generic'));
    tk.err.hidden = false;
  };

  const applyBot = (b) => {
    bot = Object.assign({}, b || {});
    save({ bot });
    lang = pickLang(ds.locale || bot.language);
    applyTheme(wrap, bot.color);
    wrap.classList.toggle('left', bot.position === 'left');
    greetBub.textContent = '';
    if (bot.greeting) md(bot.greeting, greetBub);
    greetRow.hidden = !bot.greeting;
    paintAvatars();
    applyText();
    launcher.hidden = false;
  };

  // ------------------------------------------------------------- messages
  const setPendingUi = (p, state) => {
    const v = views.get(p.client_id);
    v.bub.dataset.state = state;
    v.meta.textContent = '';
    if (state === 'sending') v.meta.append(h('span', { 'data-testid': 'msg-status', text: t('sending') }));
    else {
      v.meta.append(h('span', { class: 'bad', 'data-testid': 'msg-status', text: t('failed') }),
        h('button', { class: 'lnk', type: 'button', text: t('retry'), onclick: () => { client.requeue(p); setPendingUi(p, 'sending'); client.flush(); } }));
    }
  };
  const addPendingRow = (p) => {
    const { row, bub, meta } = msgRow({ role: 'user', text: p.text });
    views.set(p.client_id, { row, bub, meta });
    bub.dataset.clientId = p.client_id;
    setPendingUi(p, 'sending');
    place(row, null);
  };
  const confirmRow = (p, msg, id, seq) => {
    const v = views.get(p.client_id);
    views.delete(p.client_id);
    v.bub.dataset.state = 'sent';
    if (seq != null) v.bub.dataset.seq = seq;
    if (id) { v.bub.dataset.id = id; v.row.dataset.id = id; }
    v.meta.textContent = '';
    if (msg.created_at) v.meta.append(h('span', { class: 'tm', 'data-at': msg.created_at, text: fmtTime(msg.created_at) }));
    place(v.row, seq);
  };
  const failRow = (p) => {
    const v = views.get(p.client_id);
    if (!input.value.trim()) { // give the text back rather than leaving a dead bubble
      v.row.remove();
      views.delete(p.client_id);
      input.value = p.text;
      autosize();
    } else setPendingUi(p, 'failed');
    updateQr();
  };
  const submit = () => {
    if (client.send(input.value)) { input.value = ''; autosize(); }
    input.focus();
  };
  const quick = (q) => { client.send(q); input.focus(); };

  // ------------------------------------------------------------- streaming
  const onDelta = (f) => {
    const k = String(f.reply_to), off = +f.offset || 0, chars = cps(String(f.text == null ? '' : f.text));
    let s = streams.get(k);
    if (!s) {
      if (off !== 0) { setTyping(true, null); return; } // joined mid-reply (reconnect): wait for the final message
      const { row, bub } = msgRow({ role: 'bot', text: '' });
      bub.classList.add('stream');
      bub.setAttribute('data-testid', 'streaming');
      bub.dataset.replyTo = k;
      s = { row, bub, text: '', n: 0, raf: 0 };
      streams.set(k, s);
      streamBox.append(row);
      qr.hidden = true;
    }
    if (off === 0 && s.n) { s.text = ''; s.n = 0; } // the reply restarted
    if (off > s.n) return; // a chunk was lost: keep what we have, the final message is authoritative
    chars.splice(0, s.n - off); // overlap with what we already have
    if (chars.length) { s.text += chars.join(''); s.n += chars.length; }
    setTyping(typingOn);
    if (!s.raf) s.raf = requestAnimationFrame(() => { s.raf = 0; s.bub.textContent = ''; md(s.text, s.bub); toBottom(); });
    armIdle();
  };
  const dropStream = (k) => {
    const s = streams.get(k);
    if (!s) return;
    cancelAnimationFrame(s.raf);
    s.row.remove();
    streams.delete(k);
  };
  const dropStreams = () => streams.forEach((s, k) => dropStream(k));

  // ------------------------------------------------------ feedback & CSAT
  const feedback = (id, rating, row) => {
    client.feedback(id, rating);
    paintFb(row);
  };
  const armIdle = () => {
    clearTimeout(idleT);
    idleT = setTimeout(() => showCsat(false), CSAT_IDLE_MS);
  };
  const showCsat = (force) => {
    const st = load(), conv = client.conv;
    const done = conv != null && String(st.csat) === String(conv);
    if (!force && (done || withPerson || !botSeqs.length || !client.hasUserMessage())) return;
    renderCsat(done);
    csat.hidden = false;
    toBottom(true);
    if (force) { open(false); requestAnimationFrame(() => (csat.querySelector('button') || input).focus()); }
  };
  const renderCsat = (done) => {
    csat._done = done;
    csat.textContent = '';
    if (done) {
      csat.append(h('p', { id: 'cp-csat-q', text: t('csatThanks') }), h('button', { class: 'nb', type: 'button', 'data-testid': 'csat-new', onclick: reset }, t('newConv')));
      return;
    }
    const stars = h('div', { class: 'stars', 'data-testid': 'csat-stars' });
    const hl = (n) => stars.childNodes.forEach((b, i) => b.classList.toggle('hl', i < n));
    for (let n = 1; n <= 5; n++) {
      stars.append(h('button', {
        type: 'button', 'aria-label': t('star', { n }), 'data-testid': 'csat-' + n, 'data-score': n,
        onmouseenter: () => hl(n), onfocus: () => hl(n), onmouseleave: () => hl(0), onblur: () => hl(0),
        onclick: () => rate(n),
      }, icon('star')));
    }
    csat.append(h('p', { id: 'cp-csat-q', text: t('csatQ') }), stars);
  };
  const rate = (score) => {
    client.rate(score);
    renderCsat(true);
    csat.querySelector('button').focus();
  };

  // ------------------------------------------------------------ connection
  // W.WebSocket is looked up at connect time (like a bare `new WebSocket`); `conversation` updates
  // readyData for `ready` handlers added later.
  const client = createClient({
    url: wsUrl,
    WebSocket: function (url) { return new W.WebSocket(url); },
    store,
    timers: W,
    now: () => Date.now(),
    random: () => Math.random(),
    uuid: () => uuid(),
    locale: () => lang,
    hooks: {
      status: setStatus,
      notice: (code, ms) => showNotice(STR.en[code] ? t(code) : t('generic'), ms),
      bot: applyBot,
      welcomed: (conv) => {
        updateQr(); updateUnread();
        if (!readyFired) { readyFired = true; readyData = { conversation_id: conv, bot: Object.assign({}, bot) }; emit('ready', readyData); }
      },
      conversation: (conv) => { if (readyData) readyData.conversation_id = conv; },
      show: (m, seq) => {
        if (m.role !== 'user' && m.reply_to != null) dropStream(String(m.reply_to));
        const { row } = msgRow(m);
        place(row, seq);
      },
      remembered: (m, seq) => {
        if (!lastMsg || seq >= (lastMsg.seq || 0)) lastMsg = m;
        if (isOpen) save({ read: client.maxSeq });
      },
      message: (m, seq) => {
        if (m.role !== 'user') {
          if (seq != null) botSeqs.push(seq);
          if (!streams.size) setTyping(false);
        }
        updateQr(); updateUnread(); armIdle();
        toBottom();
        emit('message', Object.assign({}, m));
      },
      pending: addPendingRow,
      queued: () => { updateQr(); stopTyping(); toBottom(true); },
      confirmed: confirmRow,
      acked: (msg) => { updateQr(); armIdle(); emit('message', msg); },
      failed: failRow,
      delta: onDelta,
      typing: (on, author) => setTyping(on, author ? agentOf(author) : null),
      handoff: showHandoff,
      ticketSent: () => renderTicket(true),
      ticketFailed,
      replyFailed: () => { dropStreams(); setTyping(false); updateQr(); },
      dropped: () => { dropStreams(); setTyping(false); },
      refresh: updateQr,
      clearing: (keepOutbox) => {
        for (const c of Array.from(log.children)) if (c !== greetRow && !(keepOutbox && c._seq === Infinity)) c.remove();
        if (!keepOutbox) views.clear();
        dropStreams();
      },
      cleared: () => {
        botSeqs.length = 0; lastMsg = null; hNote = null; withPerson = false;
        csat.hidden = tkBox.hidden = true; hideNotice(); setTyping(false); updateQr(); updateUnread();
      },
      unblocked: hideNotice,
    },
  });
  const reset = () => {
    client.reset();
    if (isOpen) input.focus();
  };

  // ---------------------------------------------------------- open/close
  const open = (focus = true) => {
    if (!isOpen) {
      isOpen = true;
      sSet('1');
      panel.hidden = false;
      wrap.classList.add('open');
      launcher.setAttribute('aria-expanded', 'true');
      save({ read: client.maxSeq });
      updateUnread();
      toBottom(true);
      if (booted) client.wake();
      emit('open');
    }
    if (focus) requestAnimationFrame(() => input.focus());
  };
  const close = (returnFocus) => {
    if (!isOpen) return;
    isOpen = false;
    sSet('0');
    menuOpen(false);
    panel.hidden = true;
    wrap.classList.remove('open');
    launcher.setAttribute('aria-expanded', 'false');
    updateUnread();
    if (returnFocus) launcher.focus();
    emit('close');
  };
  const toggle = () => (isOpen ? close(true) : open());
  const menuOpen = (on, refocus) => {
    menu.hidden = !on;
    menuBtn.setAttribute('aria-expanded', String(!!on));
    if (on) newBtn.focus(); else if (refocus) menuBtn.focus();
  };

  // --------------------------------------------------------------- events
  const autosize = () => {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight + 2, 132) + 'px';
    sendBtn.disabled = !input.value.trim();
  };
  const stopTyping = () => { clearTimeout(typingOffT); if (sentTypingAt) { sentTypingAt = 0; if (client.live()) client.raw({ type: 'typing', on: false }); } };
  input.addEventListener('input', () => {
    autosize();
    if (!client.live()) return;
    if (Date.now() - sentTypingAt > 4000) { sentTypingAt = Date.now(); client.raw({ type: 'typing', on: true }); }
    clearTimeout(typingOffT);
    typingOffT = setTimeout(stopTyping, 5000);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); submit(); }
  });
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      if (!menu.hidden) menuOpen(false, true); else close(true);
    } else if (!menu.hidden && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
      e.preventDefault();
      (root.activeElement === newBtn ? endBtn : newBtn).focus();
    }
  });
  panel.addEventListener('click', (e) => { if (!menu.hidden && !e.composedPath().some((n) => n === menu || n === menuBtn)) menuOpen(false); });
  W.addEventListener('online', () => client.online());
  W.addEventListener('offline', () => client.offline());
  D.addEventListener('visibilitychange', () => { if (!D.hidden) client.wake(); });
  W.addEventListener('storage', (e) => { // another tab started a new conversation
    if (e.key !== store.key) return;
    client.storageChanged(e.newValue);
  });

  // ------------------------------------------------------------------ API
  const api = {
    version: '1.0.0',
    open: () => open(),
    close: () => close(false),
    toggle: () => toggle(),
    reset: () => reset(),
    identify: (o) => client.identify(o),
    on: (ev, fn) => {
      if (typeof fn !== 'function') return api;
      (handlers[ev] = handlers[ev] || []).push(fn);
      if (ev === 'ready' && readyFired) queueMicrotask(() => fn(readyData));
      return api;
    },
    off: (ev, fn) => { handlers[ev] = (handlers[ev] || []).filter((f) => f !== fn); return api; },
    send: (text) => client.send(text),
  };

  // ---------------------------------------------------------------- start
  const boot = () => {
    D.body.append(host);
    const st = load();
    if (st.bot) applyBot(st.bot); else { applyTheme(wrap); applyText(); setTimeout(() => { launcher.hidden = false; }, 4000); }
    setStatus('connecting');
    client.restoreOutbox();
    for (const c of queued) { // each entry: [name, ...args] (an arguments object works too)
      const [name, ...args] = Array.from(c || []);
      if (typeof api[name] === 'function') { try { api[name](...args); } catch (e) { console.error(e); } }
    }
    const s = sGet();
    if (s === '1' || (s == null && /^(1|true|yes|)$/i.test(ds.open == null ? 'no' : ds.open))) open(false);
    booted = true;
    client.start();
  };
  return { api, boot };
};
