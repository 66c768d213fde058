// The protocol client (docs/protocol.md): one WebSocket with hello/welcome (v2: the conversation, and
// its token, arrive with the first message's ack; until then the welcome's token names the visitor),
// replay after last_seq,
// dedupe by id/seq, resume on gaps, the outbox (unacked messages resent with their client_id, kept in
// storage across reloads), feedback/CSAT resend, rate_limited / unavailable hold (of messages, and of
// a refused hello: said again after retry_after), reconnect with backoff, ping and dead-socket detection.
//
// No DOM: the WebSocket constructor, timers, clock, randomness, uuid and the store are injected,
// and everything the page shows goes out through `hooks` (all optional):
//   status(state, text)      'connecting' | 'online' | 'offline'; text: a string key to show instead of
//                            the state's own ('retrying': a refused hello is said again soon)
//   notice(code, ms)         an error notice to show (a string key: an error code, 'unavailable', ...)
//   bot(bot)                 welcome.bot (or the cached one)
//   welcomed(conv)           after a welcome was handled (conv is null until the first message, v2)
//   conversation(conv)       the first message's ack opened the conversation (its token is stored)
//   show(m, seq)             a new stored message to render (not a confirmation of a pending one)
//   message(m, seq)          after every new stored message (rendered or confirmed)
//   remembered(m, seq)       a message with a seq was recorded (maxSeq is up to date)
//   pending(p)               a visitor message entered the outbox ({client_id, text})
//   queued(p)                send() queued `p` (before it is flushed)
//   confirmed(p, msg, id, seq)  a pending message was stored (ack, or the replay had it)
//   acked(msg)               ... by an ack
//   failed(p)                a pending message was refused (not stored); it left the outbox
//   delta(f), typing(on, author)  streaming frames; author: {name, avatar_url} when an agent types
//   handoff(state, isNew)    the handoff state changed ({status, position, expected_wait_s, agent});
//                            isNew: another status or agent (a new notice), else only position/wait
//   ticketSent(), ticketFailed(f)   the offline ticket was stored / refused (the error frame)
//   replyFailed()            error reply_failed
//   dropped()                the socket was dropped (streams are over)
//   refresh()                the outbox / connection changed (quick replies depend on it)
//   clearing(keepOutbox), cleared()   a conversation's state is being forgotten
//   unblocked()              identify() lifted an identity stop
import { PROTOCOL_VERSION, CLOSE, CLIENT_CLOSE, PING_MS, DEAD_MS, STALL_MS, POLICY_WAIT_MS, MAX_ATTEMPT, backoff, retryDelay } from './protocol.js';

export const createClient = ({
  url, WebSocket: WS = globalThis.WebSocket, store, timers = globalThis, now = Date.now, random = Math.random,
  uuid, locale = () => 'en', hooks = {}, onError = (err) => console.error('[chatplatform]', err),
}) => {
  const on = (name, ...args) => { const f = hooks[name]; return f ? f(...args) : undefined; };
  let ws = null, welcomed = false, attempt = 0, retryT = 0, pingT = 0, lastFrame = 0, stopped = false;
  let gen = 0, started = false, everOpened = false, holdUntil = 0, holdT = 0, resumeFrom = -1;
  let helloAt = 0, helloT = 0, busy = false; // no hello before helloAt (a refused one's retry_after)
  let replyAt = 0; // when the message whose reply is awaited was acked (or last resumed); 0 = none
  let identity = null, conv = null, maxSeq = 0, csatOut = null;
  let handoff = null, ticketOut = null; // the last handoff state reported; the offline ticket not yet acked
  const seen = new Map(); // message id -> message
  const seenSeq = new Set();
  const pending = new Map(); // client_id -> {client_id, text, gen}: the outbox
  const fbOut = new Map(); // message_id -> rating not yet acked

  // ------------------------------------------------------------ the socket
  const live = () => !!(ws && ws.readyState === 1 && welcomed);
  const raw = (f) => { if (ws && ws.readyState === 1) { try { ws.send(JSON.stringify(f)); return true; } catch (e) { /* closing */ } } return false; };
  const connect = () => {
    timers.clearTimeout(retryT);
    if (ws || stopped) return;
    const wait = helloAt - now();
    if (wait > 0) { retryT = timers.setTimeout(connect, wait); return; } // the server asked us to wait
    let sock;
    try { sock = new WS(url); } catch (e) { schedule(); return; }
    ws = sock; welcomed = false; gen++;
    if (!attempt) on('status', 'connecting');
    sock.onopen = () => {
      lastFrame = now(); everOpened = true;
      hello();
      timers.clearInterval(pingT);
      pingT = timers.setInterval(() => {
        if (now() - lastFrame > DEAD_MS) { drop(); schedule(); return; } // half-open socket
        raw({ type: 'ping' });
        // The layer may drop a final reply with no later frame to show the gap: PostgreSQL has it.
        if (replyAt && now() - replyAt > STALL_MS) { replyAt = now(); raw({ type: 'resume', last_seq: maxSeq }); }
      }, PING_MS);
    };
    sock.onmessage = (e) => {
      if (ws !== sock) return;
      lastFrame = now();
      let f;
      try { f = JSON.parse(e.data); } catch (err) { return; }
      if (f && typeof f === 'object') { try { handle(f); } catch (err) { onError(err); } }
    };
    sock.onclose = (e) => {
      if (ws !== sock) return;
      drop();
      if (e.code === CLOSE.REFUSED) { stopped = true; on('notice', 'unavailable', 0); return; }
      schedule(e.code === CLOSE.POLICY ? POLICY_WAIT_MS : 0);
    };
  };
  const hello = () => {
    const st = store.load(), f = { type: 'hello', v: PROTOCOL_VERSION, last_seq: maxSeq, locale: locale() };
    if (st.token) f.visitor_token = st.token;
    if (identity) {
      f.user_id = identity.userId; f.user_hash = identity.userHash;
      if (identity.expires != null) f.user_hash_expires = identity.expires;
    }
    raw(f);
  };
  // rate_limited / unavailable answering our hello: nothing was done and the socket stays open; say
  // hello again on it after retry_after (growing like the backoff while it keeps being refused, with
  // jitter so that widgets refused together do not come back together). A socket that closes
  // meanwhile is replaced no earlier than that (connect() waits for helloAt).
  const retryHello = (f) => {
    const d = retryDelay(+f.retry_after, attempt, random());
    attempt = Math.min(attempt + 1, MAX_ATTEMPT);
    helloAt = now() + d;
    on('status', 'connecting', 'retrying');
    timers.clearTimeout(helloT);
    helloT = timers.setTimeout(() => { if (ws && !welcomed) hello(); }, d);
  };
  const drop = () => { // forget the socket now; its late events are ignored
    const sock = ws;
    ws = null; welcomed = false;
    timers.clearInterval(pingT); timers.clearTimeout(helloT);
    if (sock) { sock.onclose = sock.onmessage = sock.onopen = null; try { sock.close(CLIENT_CLOSE); } catch (e) { /* already closed */ } }
    on('dropped');
    if (!stopped) on('status', 'offline');
    on('refresh');
  };
  const schedule = (min) => {
    if (stopped) return;
    timers.clearTimeout(retryT);
    // a refused handshake (origin not allowed: HTTP 403) looks like a network error to browsers (1006),
    // so a socket that has never opened backs off further instead of knocking every 15 s forever
    const d = Math.max(min || 0, backoff(attempt, everOpened, random()));
    attempt = Math.min(attempt + 1, MAX_ATTEMPT);
    retryT = timers.setTimeout(connect, d);
  };
  const reconnectNow = () => { drop(); attempt = 0; connect(); };

  // ------------------------------------------------------------ frames in
  const handle = (f) => {
    switch (f.type) {
      case 'welcome': return onWelcome(f);
      case 'message': return onMessage(f);
      case 'ack': return onAck(f);
      case 'delta': return on('delta', f);
      case 'typing': if (f.role !== 'user') on('typing', !!f.on, f.role === 'agent' ? f.author || {} : null); return;
      case 'handoff': replyAt = 0; return onHandoff(f);
      case 'offline_ticket_ack': if (ticketOut && String(f.client_id) === ticketOut.client_id) { ticketOut = null; store.save({ ticket: true }); on('ticketSent'); } return;
      case 'feedback_ack': fbOut.delete(f.message_id); fbOut.delete(String(f.message_id)); return;
      case 'csat_ack': csatOut = null; return;
      case 'error': return onErrorFrame(f);
      default: // pong and future frame types
    }
  };
  const onWelcome = (f) => {
    const st = store.load();
    if (f.conversation_id != null && st.conv != null && String(f.conversation_id) !== String(st.conv)) clear(true);
    conv = f.conversation_id == null ? null : f.conversation_id;
    store.save({ token: f.visitor_token || st.token || null, conv, uid: identity ? identity.userId : null });
    on('bot', f.bot || st.bot);
    welcomed = true; attempt = 0; resumeFrom = -1; busy = false;
    on('status', 'online');
    for (const m of Array.isArray(f.messages) ? f.messages : []) onMessage(m);
    if (+f.last_seq > maxSeq) { resumeFrom = maxSeq; raw({ type: 'resume', last_seq: maxSeq }); }
    flush();
    for (const [message_id, rating] of fbOut) raw({ type: 'feedback', message_id, rating });
    if (csatOut) raw(Object.assign({ type: 'csat' }, csatOut));
    if (ticketOut) raw(ticketOut); // unacknowledged: resent with its client_id, like feedback
    if (f.handoff) onHandoff(f.handoff); // after the replay, so its notice comes after the history
    on('welcomed', conv);
  };
  const onMessage = (m) => {
    if (!m || typeof m !== 'object' || (m.id == null && m.seq == null)) return;
    const id = m.id == null ? null : String(m.id), seq = m.seq == null ? null : +m.seq;
    if ((id && seen.has(id)) || (seq != null && seenSeq.has(seq))) return;
    gapCheck(seq);
    if (m.role !== 'user') replyAt = 0;
    const p = m.role === 'user' && m.client_id != null && pending.get(String(m.client_id));
    if (p) confirm(p, id, seq, m);
    else {
      on('show', m, seq);
      remember(m, id, seq);
    }
    on('message', m, seq);
  };
  const remember = (m, id, seq) => {
    if (id) seen.set(id, m);
    if (seq != null) {
      seenSeq.add(seq);
      if (seq > maxSeq) { maxSeq = seq; store.save({ seq: maxSeq }); }
      on('remembered', m, seq);
    }
  };
  const gapCheck = (seq) => { // the channel layer may drop frames: ask for what we missed, once per gap
    if (!welcomed || !(seq > maxSeq + 1) || resumeFrom === maxSeq) return;
    resumeFrom = maxSeq;
    raw({ type: 'resume', last_seq: maxSeq });
  };
  const confirm = (p, id, seq, m) => {
    pending.delete(p.client_id);
    saveOutbox();
    const msg = Object.assign({ role: 'user', text: p.text, client_id: p.client_id, created_at: new Date(now()).toISOString() }, m || {}, { id: m && m.id != null ? m.id : id, seq });
    on('confirmed', p, msg, id, seq);
    remember(msg, id, seq);
    return msg;
  };
  const onAck = (f) => {
    // v2: the ack of the message that opened the conversation carries it and its token, stored
    // exactly like a welcome's (the next hello sends it, other tabs follow it).
    if (f.conversation_id != null && f.visitor_token && String(f.conversation_id) !== String(conv)) {
      conv = f.conversation_id;
      store.save({ token: f.visitor_token, conv, uid: identity ? identity.userId : null });
      on('conversation', conv);
    }
    const p = pending.get(String(f.client_id));
    if (!p) return;
    gapCheck(f.seq == null ? null : +f.seq);
    busy = false; replyAt = now();
    const msg = confirm(p, f.message_id == null ? null : String(f.message_id), f.seq == null ? null : +f.seq, null);
    on('acked', msg);
  };
  const onErrorFrame = (f) => {
    if (ticketOut && String(f.client_id) === ticketOut.client_id) { ticketOut = null; on('ticketFailed', f); return; }
    const code = String(f.code || ''), p = f.client_id != null && pending.get(String(f.client_id));
    if (!welcomed && ws) { // the server refused our hello
      if ((code === 'rate_limited' || code === 'unavailable') && !p) { retryHello(f); return; }
      if (code === 'identity_required' || (code === 'forbidden' && identity)) {
        stopped = 'identity'; drop(); on('status', 'offline'); on('notice', 'identity_required', 0); return;
      }
      if (code === 'not_found' || code === 'forbidden') {
        if (store.load().token) { store.save({ token: null, conv: null }); clear(true); reconnectNow(); return; } // stale token
        stopped = true; drop(); on('notice', 'unavailable', 0); return;
      }
    }
    if (code === 'hello_required') { drop(); schedule(); return; }
    if (code === 'no_conversation') { fbOut.clear(); csatOut = null; return; } // a rating before any message: nothing to resend
    if (code === 'rate_limited' || (code === 'unavailable' && f.client_id != null)) {
      holdUntil = now() + Math.max(1, +f.retry_after || 2) * 1000;
      if (p) { p.gen = 0; flush(); } // not stored (or stored, then the resend is a duplicate ack): resend later with the same client_id
      // unavailable: the server is struggling (Redis down); the message stays "Sending…" and the
      // notice is shown once, not on every refused resend
      if (code === 'rate_limited') on('notice', code);
      else if (!busy) { busy = true; on('notice', 'busy'); }
      return;
    }
    if (p) fail(p);
    if (code === 'reply_failed') on('replyFailed');
    on('notice', code);
  };

  // ------------------------------------------------------------ handoff
  // Every welcome carries the state and every change is published, so the same state arrives again
  // and again (reconnects, the frame and the welcome): report a state once, and a status or agent
  // change as new (a notice), a queue position or wait change as an update of the current one.
  const onHandoff = (f) => {
    if (!/^(bot|queued|assigned|resolved|offline)$/.test(f.status)) return; // a future status: ignore
    const s = { status: f.status, position: f.position, expected_wait_s: f.expected_wait_s, agent: f.agent || null };
    // a new notice: another status, or another agent took it over (a transfer)
    const was = handoff || { status: 'bot' }, same = (x) => x.status + (x.status === 'assigned' && x.agent ? '\n' + x.agent.name : '');
    if (handoff && JSON.stringify(s) === JSON.stringify(handoff)) return;
    handoff = s;
    if (s.status !== 'offline' && store.load().ticket) store.save({ ticket: false }); // the next offline period asks again
    on('handoff', s, same(s) !== same(was));
  };
  /** Send the offline form ({name, email, message}: strings); resent after a reconnect until acknowledged. */
  const ticket = (o) => {
    ticketOut = Object.assign({ type: 'offline_ticket', client_id: uuid() }, o);
    if (live()) raw(ticketOut);
  };

  // ------------------------------------------------------------ the outbox
  const saveOutbox = () => store.save({ outbox: Array.from(pending.values(), (p) => ({ client_id: p.client_id, text: p.text })) });
  const addPending = (client_id, text) => {
    const p = { client_id, text };
    pending.set(client_id, p);
    on('pending', p);
    return p;
  };
  const restoreOutbox = () => {
    for (const o of store.load().outbox || []) if (o && o.client_id && o.text) addPending(String(o.client_id), String(o.text));
  };
  const send = (text) => {
    text = String(text || '');
    if (!text.trim()) return false;
    const p = addPending(uuid(), text);
    saveOutbox();
    on('queued', p);
    flush();
    return true;
  };
  const requeue = (p) => { p.gen = 0; pending.set(p.client_id, p); saveOutbox(); }; // "Retry" on a failed one
  const flush = () => { // send each pending message once per socket; a resend reuses its client_id
    if (!live()) return;
    const wait = holdUntil - now();
    if (wait > 0) { timers.clearTimeout(holdT); holdT = timers.setTimeout(flush, wait + 50); return; }
    for (const p of pending.values()) if (p.gen !== gen) { p.gen = gen; raw({ type: 'message', client_id: p.client_id, text: p.text }); }
  };
  const fail = (p) => {
    pending.delete(p.client_id);
    saveOutbox();
    on('failed', p);
  };

  // ------------------------------------------------------ feedback & CSAT
  const feedback = (id, rating) => {
    const fb = store.load().fb || {};
    fb[id] = rating;
    store.save({ fb });
    fbOut.set(id, rating);
    if (live()) raw({ type: 'feedback', message_id: id, rating });
  };
  const rate = (score) => {
    csatOut = { score };
    store.save({ csat: conv });
    if (live()) raw({ type: 'csat', score });
  };

  // ------------------------------------------------------ conversations
  // forget a conversation's state (keepOutbox: messages typed but never stored survive into the next one)
  const clear = (keepOutbox) => {
    on('clearing', keepOutbox);
    if (!keepOutbox) { pending.clear(); saveOutbox(); }
    seen.clear(); seenSeq.clear(); fbOut.clear(); csatOut = null;
    maxSeq = 0; conv = null; resumeFrom = -1; handoff = ticketOut = null;
    on('cleared');
    store.save({ seq: 0, read: 0, fb: {}, conv: null, ticket: false });
  };
  const reset = () => {
    clear(false);
    store.save({ token: null, conv: null, csat: null });
    stopped = stopped === 'identity' ? stopped : false;
    reconnectNow();
  };
  const identify = (o) => {
    o = o || {};
    const uid = o.userId != null ? o.userId : o.user_id, hash = o.userHash != null ? o.userHash : o.user_hash;
    const exp = o.userHashExpires != null ? o.userHashExpires : o.user_hash_expires;
    identity = uid != null && uid !== '' ? { userId: String(uid), userHash: String(hash || ''),
      expires: exp != null && exp !== '' ? Number(exp) : null } : null;
    const st = store.load(), cur = identity ? identity.userId : null;
    if (st.token && st.uid && st.uid !== cur) { clear(false); store.save({ token: null, conv: null, csat: null }); } // never show one user's chat to another
    if (stopped === 'identity') { stopped = false; on('unblocked'); }
    if (started) reconnectNow();
  };
  /** Another tab wrote the store (its new JSON value): follow it to a new conversation. */
  const storageChanged = (newValue) => {
    let n = {};
    try { n = JSON.parse(newValue || '{}') || {}; } catch (err) { return; }
    if (n.conv != null && conv != null && String(n.conv) === String(conv)) return;
    if (n.token && n.conv != null) { clear(true); reconnectNow(); } else if (!n.token && conv != null) { clear(true); drop(); schedule(3000); }
  };

  // ------------------------------------------------ the browser's signals
  const start = () => { started = true; connect(); };
  const wake = () => { if (!ws && !stopped) { attempt = 0; connect(); } }; // tab visible, panel opened
  const online = () => { if (!live()) reconnectNow(); else on('status', 'online'); };
  // The browser lost the network: a socket that seems open is dead or about to be (and one that
  // survived, e.g. a blip, would otherwise leave the status at "offline" for good). Drop it and
  // back off; `online` reconnects at once and the hello's last_seq replays what was missed.
  const offline = () => { if (ws) { drop(); schedule(); } else on('status', 'offline'); };

  return {
    start, wake, online, offline, storageChanged, reconnectNow, live, raw, flush,
    send, restoreOutbox, requeue, feedback, rate, reset, identify, clear, ticket,
    get ticketPending() { return !!ticketOut; },
    get conv() { return conv; },
    get maxSeq() { return maxSeq; },
    get stopped() { return stopped; },
    get started() { return started; },
    get connected() { return !!ws; },
    get attempt() { return attempt; },
    get pendingCount() { return pending.size; },
    outbox: () => Array.from(pending.values()),
    hasUserMessage: () => Array.from(seen.values()).some((m) => m.role === 'user'),
  };
};
