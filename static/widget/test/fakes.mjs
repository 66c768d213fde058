// Test doubles for the protocol client: a scripted WebSocket, a manual clock, a Storage.
import { createClient } from '../src/client.js';
import { createStore } from '../src/store.js';

export class MemoryStorage {
  constructor() { this.map = new Map(); }
  getItem(k) { return this.map.has(k) ? this.map.get(k) : null; }
  setItem(k, v) { this.map.set(k, String(v)); }
  removeItem(k) { this.map.delete(k); }
}

/** setTimeout/setInterval driven by advance(ms); now() is the fake time. */
export class FakeClock {
  constructor() { this.t = 1_700_000_000_000; this.timers = new Map(); this.nextId = 1; this.delays = []; }
  now() { return this.t; }
  setTimeout(fn, ms) { const id = this.nextId++; this.timers.set(id, { fn, at: this.t + (ms || 0), every: 0 }); this.delays.push(ms); return id; }
  setInterval(fn, ms) { const id = this.nextId++; this.timers.set(id, { fn, at: this.t + ms, every: ms }); return id; }
  clearTimeout(id) { this.timers.delete(id); }
  clearInterval(id) { this.timers.delete(id); }
  pendingDelays() { return [...this.timers.values()].filter((x) => !x.every).map((x) => x.at - this.t); }
  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      let id = null, next = null;
      for (const [k, x] of this.timers) if (x.at <= end && (next === null || x.at < next.at)) { id = k; next = x; }
      if (next === null) break;
      this.t = next.at;
      if (next.every) next.at += next.every; else this.timers.delete(id);
      next.fn();
    }
    this.t = end;
  }
}

/** A WebSocket the test plays the server for: open(), receive(frame), drop(code). */
export const socketFactory = () => {
  const sockets = [];
  class FakeSocket {
    constructor(url) { this.url = url; this.readyState = 0; this.sent = []; this.closedWith = null; sockets.push(this); }
    send(s) { if (this.readyState !== 1) throw new Error('not open'); this.sent.push(JSON.parse(s)); }
    close(code) { this.readyState = 3; this.closedWith = code; }
    open() { this.readyState = 1; if (this.onopen) this.onopen(); return this; }
    receive(f) { if (this.onmessage) this.onmessage({ data: typeof f === 'string' ? f : JSON.stringify(f) }); return this; }
    drop(code = 1006) { this.readyState = 3; if (this.onclose) this.onclose({ code }); }
    frames(type) { return this.sent.filter((f) => f.type === type); }
  }
  return { FakeSocket, sockets, last: () => sockets[sockets.length - 1] };
};

export const BOT = { name: 'Acme', title: 'Acme Support', color: '#4f46e5', position: 'right', greeting: 'Hi!', language: 'en' };
export const welcome = (extra = {}) => ({ type: 'welcome', v: 2, conversation_id: 'c1', visitor_token: 'vt_1', last_seq: 0, bot: BOT, messages: [], ...extra });
export const userMsg = (seq, extra = {}) => ({ type: 'message', id: 'm' + seq, seq, role: 'user', text: 'u' + seq, client_id: 'x' + seq, created_at: '2026-01-01T00:00:00Z', ...extra });
export const botMsg = (seq, extra = {}) => ({ type: 'message', id: 'm' + seq, seq, role: 'bot', text: 'b' + seq, reply_to: 'm' + (seq - 1), created_at: '2026-01-01T00:00:00Z', ...extra });
export const ALICE = { name: 'Alice', avatar_url: '' };
/** An agent's message (human handoff): an author, no reply_to / quick replies / citations. */
export const agentMsg = (seq, extra = {}) => ({ type: 'message', id: 'm' + seq, seq, role: 'agent', text: 'a' + seq, author: ALICE, feedback: null, created_at: '2026-01-01T00:00:00Z', ...extra });
export const handoff = (status, extra = {}) => ({ type: 'handoff', status, position: null, expected_wait_s: null, agent: null, ...extra });

/** A client over fakes; `events` records every hook call as [name, ...args]. */
export const makeClient = ({ storage = new MemoryStorage(), random = () => 0.5, key = 'pk_test' } = {}) => {
  const clock = new FakeClock();
  const ws = socketFactory();
  const events = [];
  const hooks = new Proxy({}, { get: (t, name) => (...args) => { events.push([name, ...args]); } });
  let n = 0;
  const store = createStore(key, { local: storage, session: new MemoryStorage() });
  const client = createClient({
    url: 'ws://chat.test/ws/chat/' + key + '/', WebSocket: ws.FakeSocket, store, timers: clock,
    now: () => clock.now(), random, uuid: () => 'cid-' + (++n), locale: () => 'en', hooks,
    onError: (err) => { throw err; },
  });
  const seen = (name) => events.filter((e) => e[0] === name);
  return { client, clock, ws, events, seen, store, storage };
};

/** Started client with an open socket that got a welcome. */
export const online = (opts = {}, welcomeExtra = {}) => {
  const c = makeClient(opts);
  c.client.start();
  c.ws.last().open().receive(welcome(welcomeExtra));
  return c;
};
