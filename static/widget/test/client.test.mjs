// The protocol client under node's test runner, against a fake WebSocket, clock and storage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROTOCOL_VERSION, CLOSE, CLIENT_CLOSE, PING_MS, DEAD_MS, STALL_MS } from '../src/protocol.js';
import { storageKey } from '../src/store.js';
import { makeClient, online, welcome, userMsg, botMsg, MemoryStorage } from './fakes.mjs';

const stored = (c) => JSON.parse(c.storage.getItem(storageKey('pk_test')) || '{}');

test('hello: protocol version, last_seq 0 and no token on a first visit; token stored from welcome', () => {
  const c = makeClient();
  c.client.start();
  assert.equal(c.ws.sockets.length, 1);
  assert.equal(c.ws.last().url, 'ws://chat.test/ws/chat/pk_test/');
  assert.deepEqual(c.seen('status').map((e) => e[1]), ['connecting']);
  c.ws.last().open();
  assert.deepEqual(c.ws.last().sent, [{ type: 'hello', v: PROTOCOL_VERSION, last_seq: 0, locale: 'en' }]);
  c.ws.last().receive(welcome());
  assert.equal(stored(c).token, 'vt_1');
  assert.equal(stored(c).conv, 'c1');
  assert.equal(c.client.conv, 'c1');
  assert.ok(c.client.live());
  assert.equal(c.seen('status').at(-1)[1], 'online');
  assert.equal(c.seen('bot')[0][1].title, 'Acme Support');
});

test('hello carries the stored token, the identity and the highest seq seen', () => {
  const c = online({}, { last_seq: 3, messages: [userMsg(1), botMsg(2), botMsg(3)] });
  c.client.identify({ userId: 42, userHash: 'abc' });
  const hello = c.ws.last().open().sent[0];
  assert.deepEqual(hello, { type: 'hello', v: PROTOCOL_VERSION, last_seq: 3, locale: 'en', visitor_token: 'vt_1', user_id: '42', user_hash: 'abc' });
});

test('reconnect: exponential backoff with jitter, capped at 15 s, reset by a welcome', () => {
  const c = makeClient({ random: () => 0 }); // jitter factor 0.5
  c.client.start();
  c.ws.last().open().receive(welcome());
  const delays = [];
  for (let i = 0; i < 8; i++) {
    c.ws.last().drop(1006);
    const [d] = c.clock.pendingDelays();
    delays.push(d);
    c.clock.advance(d);
  }
  assert.deepEqual(delays, [250, 500, 1000, 2000, 4000, 7500, 7500, 7500]);
  assert.equal(c.ws.sockets.length, 9);
  assert.equal(c.seen('status').filter((e) => e[1] === 'offline').length, 8);
  c.ws.last().open().receive(welcome());
  assert.equal(c.client.attempt, 0);
  c.ws.last().drop(1006);
  assert.deepEqual(c.clock.pendingDelays(), [250]);
});

test('reconnect jitter is random(0.5..1) of the step', () => {
  const c = makeClient({ random: () => 1 });
  c.client.start();
  c.ws.last().open().receive(welcome());
  c.ws.last().drop(1001);
  assert.deepEqual(c.clock.pendingDelays(), [500]);
});

test('a socket that never opened backs off up to 60 s after 7 failures (a refused origin looks like 1006)', () => {
  const c = makeClient({ random: () => 1 });
  c.client.start();
  const delays = [];
  for (let i = 0; i < 10; i++) {
    c.ws.last().drop(1006);
    const [d] = c.clock.pendingDelays();
    delays.push(d);
    c.clock.advance(d);
  }
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 15000, 15000, 60000, 60000, 60000]);
});

test('close 4403 stops reconnecting with "unavailable"; 1008 waits at least 60 s; 1009 reconnects normally', () => {
  let c = online();
  c.ws.last().drop(CLOSE.REFUSED);
  assert.equal(c.client.stopped, true);
  assert.deepEqual(c.clock.pendingDelays(), []);
  assert.deepEqual(c.seen('notice').at(-1), ['notice', 'unavailable', 0]);
  c.client.wake();
  assert.equal(c.ws.sockets.length, 1);

  c = online();
  c.ws.last().drop(CLOSE.POLICY);
  assert.deepEqual(c.clock.pendingDelays(), [60000]);

  c = online({ random: () => 1 });
  c.ws.last().drop(CLOSE.TOO_LARGE);
  assert.deepEqual(c.clock.pendingDelays(), [500]);
});

test('the client closes sockets it drops with its own code and ignores their late events', () => {
  const c = online();
  const old = c.ws.last();
  c.client.reconnectNow();
  assert.equal(old.closedWith, CLIENT_CLOSE);
  assert.equal(old.onmessage, null);
  assert.equal(c.ws.sockets.length, 2);
});

test('ping every 25 s; a socket silent for 65 s is replaced', () => {
  const c = online();
  const sock = c.ws.last();
  c.clock.advance(PING_MS);
  assert.equal(sock.frames('ping').length, 1);
  sock.receive({ type: 'pong' });
  c.clock.advance(PING_MS * 2);
  assert.equal(sock.frames('ping').length, 3);
  assert.equal(c.ws.sockets.length, 1);
  c.clock.advance(DEAD_MS); // nothing received since the pong
  assert.equal(sock.closedWith, CLIENT_CLOSE);
  c.clock.advance(1000);
  assert.equal(c.ws.sockets.length, 2);
});

test('replay: messages after last_seq are shown once; duplicates by id or seq are ignored', () => {
  const c = online({}, { last_seq: 2, messages: [userMsg(1), botMsg(2)] });
  assert.deepEqual(c.seen('show').map((e) => e[2]), [1, 2]);
  c.ws.last().drop(1006);
  c.clock.advance(1000);
  const sock = c.ws.last().open();
  assert.equal(sock.sent[0].last_seq, 2);
  sock.receive(welcome({ last_seq: 4, messages: [botMsg(2), botMsg(3), botMsg(4)] }));
  sock.receive(botMsg(4)); // the group copy of a replayed message
  sock.receive({ ...botMsg(9), id: 'm3' }); // known id
  sock.receive({ ...botMsg(3), id: 'another-id' }); // known seq
  assert.deepEqual(c.seen('show').map((e) => e[2]), [1, 2, 3, 4]);
  assert.equal(c.client.maxSeq, 4);
  assert.equal(stored(c).seq, 4);
  assert.equal(sock.frames('resume').length, 0);
  assert.deepEqual(c.seen('message').map((e) => e[2]), [1, 2, 3, 4]);
});

test('a seq gap triggers one resume from the highest seq', () => {
  const c = online({}, { last_seq: 2, messages: [userMsg(1), botMsg(2)] });
  const sock = c.ws.last();
  sock.receive(botMsg(5));
  sock.receive(botMsg(6));
  assert.deepEqual(sock.frames('resume'), [{ type: 'resume', last_seq: 2 }]);
  sock.receive(botMsg(3));
  sock.receive(botMsg(4));
  assert.deepEqual(c.seen('show').map((e) => e[2]), [1, 2, 5, 6, 3, 4]);
  assert.equal(c.client.maxSeq, 6);
});

test('welcome.last_seq above what the replay had triggers a resume', () => {
  const c = online({}, { last_seq: 5, messages: [userMsg(1), botMsg(2)] });
  assert.deepEqual(c.ws.last().frames('resume'), [{ type: 'resume', last_seq: 2 }]);
});

test('an ack with a gap in seq also triggers resume', () => {
  const c = online({}, { last_seq: 1, messages: [userMsg(1)] });
  c.client.send('hi');
  const sock = c.ws.last();
  sock.receive({ type: 'ack', client_id: 'cid-1', message_id: 'm4', seq: 4, duplicate: false });
  assert.deepEqual(sock.frames('resume'), [{ type: 'resume', last_seq: 1 }]);
});

test('a reply that stalls (acked, no frame of it for STALL_MS) is asked for with resume until it comes', () => {
  const c = online({}, { last_seq: 1, messages: [userMsg(1)] });
  c.client.send('hi');
  const sock = c.ws.last();
  sock.receive({ type: 'ack', client_id: 'cid-1', message_id: 'm2', seq: 2, duplicate: false });
  sock.receive({ type: 'delta', reply_to: 'm2', offset: 0, text: 'Hel' });
  assert.ok(STALL_MS < PING_MS);
  c.clock.advance(PING_MS); // the delta came 25 s ago, and then nothing: the final frame was lost
  assert.deepEqual(sock.frames('resume'), [{ type: 'resume', last_seq: 2 }]);
  sock.receive({ type: 'pong' });
  c.clock.advance(PING_MS);
  assert.equal(sock.frames('resume').length, 2); // still nothing: asked again, once per ping
  sock.receive(botMsg(3));
  c.clock.advance(PING_MS * 2);
  assert.equal(sock.frames('resume').length, 2); // answered: no more resumes
  c.client.send('more');
  sock.receive({ type: 'ack', client_id: 'cid-2', message_id: 'm4', seq: 4, duplicate: false });
  sock.receive({ type: 'handoff', status: 'queued', position: 1 });
  c.clock.advance(PING_MS * 2);
  assert.equal(sock.frames('resume').length, 2); // handed to people: their replies come when they come
});

test('outbox: a message sent offline is stored and sent after the next welcome with its client_id', () => {
  const c = makeClient();
  c.client.start();
  assert.equal(c.client.send('where is my order?'), true);
  assert.equal(c.client.send('   '), false);
  assert.deepEqual(stored(c).outbox, [{ client_id: 'cid-1', text: 'where is my order?' }]);
  assert.deepEqual(c.seen('pending').map((e) => e[1].client_id), ['cid-1']);
  const sock = c.ws.last().open();
  assert.deepEqual(sock.frames('message'), []);
  sock.receive(welcome());
  assert.deepEqual(sock.frames('message'), [{ type: 'message', client_id: 'cid-1', text: 'where is my order?' }]);
});

test('outbox: ack confirms the message and removes it; the message event carries id and seq', () => {
  const c = online();
  c.client.send('hello');
  const sock = c.ws.last();
  assert.equal(sock.frames('message').length, 1);
  sock.receive({ type: 'ack', client_id: 'cid-1', message_id: 'm1', seq: 1, duplicate: false });
  assert.deepEqual(stored(c).outbox, []);
  assert.equal(c.client.pendingCount, 0);
  const [, msg] = c.seen('acked')[0];
  assert.equal(msg.id, 'm1');
  assert.equal(msg.seq, 1);
  assert.equal(msg.client_id, 'cid-1');
  assert.equal(msg.role, 'user');
  // the group copy of the same message is a duplicate now
  sock.receive(userMsg(1, { client_id: 'cid-1', text: 'hello' }));
  assert.equal(c.seen('show').length, 0);
});

test('outbox: unacked messages are resent after a reconnect with the same client_id, once per socket', () => {
  const c = online();
  c.client.send('one');
  c.client.send('two');
  let sock = c.ws.last();
  sock.receive({ type: 'ack', client_id: 'cid-1', message_id: 'm1', seq: 1 });
  c.client.flush(); // no resend on the same socket
  assert.equal(sock.frames('message').length, 2);
  sock.drop(1006);
  c.clock.advance(1000);
  sock = c.ws.last().open();
  sock.receive(welcome({ last_seq: 1 }));
  assert.deepEqual(sock.frames('message'), [{ type: 'message', client_id: 'cid-2', text: 'two' }]);
});

test('outbox: kept across a reload through storage; a replay that contains it confirms it', () => {
  const storage = new MemoryStorage();
  const a = makeClient({ storage });
  a.client.start();
  a.client.send('sent before the reload');
  // the page reloads: a new client over the same storage
  const b = makeClient({ storage });
  b.client.restoreOutbox();
  assert.deepEqual(b.seen('pending').map((e) => [e[1].client_id, e[1].text]), [['cid-1', 'sent before the reload']]);
  b.client.start();
  let sock = b.ws.last().open();
  sock.receive(welcome());
  assert.deepEqual(sock.frames('message'), [{ type: 'message', client_id: 'cid-1', text: 'sent before the reload' }]);

  // a third load whose replay has the message stored (the ack was lost): confirmed, not shown twice
  const c = makeClient({ storage });
  c.client.restoreOutbox();
  c.client.start();
  sock = c.ws.last().open();
  sock.receive(welcome({ last_seq: 1, messages: [userMsg(1, { client_id: 'cid-1', text: 'sent before the reload' })] }));
  assert.equal(c.seen('show').length, 0);
  assert.equal(c.seen('confirmed').length, 1);
  assert.deepEqual(sock.frames('message'), []);
  assert.deepEqual(stored(c).outbox, []);
});

test('rate_limited: a polite notice, then the same client_id is resent after retry_after', () => {
  const c = online();
  c.client.send('spam');
  const sock = c.ws.last();
  sock.receive({ type: 'error', code: 'rate_limited', detail: 'slow down', retry_after: 3, client_id: 'cid-1' });
  assert.deepEqual(c.seen('notice').at(-1), ['notice', 'rate_limited']);
  assert.equal(sock.frames('message').length, 1);
  c.client.send('another'); // held too
  assert.equal(sock.frames('message').length, 1);
  c.clock.advance(2999);
  assert.equal(sock.frames('message').length, 1);
  c.clock.advance(100);
  assert.deepEqual(sock.frames('message').map((f) => f.client_id), ['cid-1', 'cid-1', 'cid-2']);
  assert.equal(c.seen('failed').length, 0);
});

test('rate_limited without retry_after holds 2 s (at least 1 s)', () => {
  const c = online();
  c.client.send('x');
  c.ws.last().receive({ type: 'error', code: 'rate_limited', client_id: 'cid-1' });
  c.clock.advance(1999);
  assert.equal(c.ws.last().frames('message').length, 1);
  c.clock.advance(100);
  assert.equal(c.ws.last().frames('message').length, 2);
});

test('message_too_long / bad_frame: the message leaves the outbox as failed, with a notice', () => {
  const c = online();
  c.client.send('x'.repeat(5000));
  c.ws.last().receive({ type: 'error', code: 'message_too_long', client_id: 'cid-1' });
  assert.equal(c.seen('failed')[0][1].client_id, 'cid-1');
  assert.deepEqual(stored(c).outbox, []);
  assert.deepEqual(c.seen('notice').at(-1), ['notice', 'message_too_long']);
  // Retry puts it back with the same client_id
  c.client.requeue(c.seen('failed')[0][1]);
  c.client.flush();
  assert.deepEqual(c.ws.last().frames('message').map((f) => f.client_id), ['cid-1', 'cid-1']);
});

test('not_found to a hello with a stale token: forget it and say hello without one', () => {
  const storage = new MemoryStorage();
  storage.setItem(storageKey('pk_test'), JSON.stringify({ token: 'vt_old', conv: 'c0' }));
  const c = makeClient({ storage });
  c.client.start();
  const first = c.ws.last().open();
  assert.equal(first.sent[0].visitor_token, 'vt_old');
  first.receive({ type: 'error', code: 'not_found' });
  assert.equal(stored(c).token, null);
  assert.equal(c.ws.sockets.length, 2);
  const hello = c.ws.last().open().sent[0];
  assert.equal('visitor_token' in hello, false);
  assert.equal(c.seen('clearing')[0][1], true);
});

test('not_found without a token: chat unavailable, no reconnect', () => {
  const c = makeClient();
  c.client.start();
  c.ws.last().open().receive({ type: 'error', code: 'not_found' });
  assert.equal(c.client.stopped, true);
  assert.deepEqual(c.seen('notice').at(-1), ['notice', 'unavailable', 0]);
  assert.deepEqual(c.clock.pendingDelays(), []);
});

test('identity_required: "please sign in", no reconnect until identify()', () => {
  const c = makeClient();
  c.client.start();
  c.ws.last().open().receive({ type: 'error', code: 'identity_required' });
  assert.equal(c.client.stopped, 'identity');
  assert.deepEqual(c.seen('notice').at(-1), ['notice', 'identity_required', 0]);
  c.clock.advance(120000);
  assert.equal(c.ws.sockets.length, 1);
  c.client.identify({ userId: 'u1', userHash: 'h1' });
  assert.equal(c.seen('unblocked').length, 1);
  const hello = c.ws.last().open().sent[0];
  assert.equal(hello.user_id, 'u1');
});

test('identify() with another user id starts a new conversation', () => {
  const c = online();
  c.client.identify({ userId: 'alice', userHash: 'ha' });
  c.ws.last().open().receive(welcome());
  assert.equal(stored(c).uid, 'alice');
  c.client.identify({ userId: 'bob', userHash: 'hb' });
  assert.equal(stored(c).token, null);
  assert.equal('visitor_token' in c.ws.last().open().sent[0], false);
});

test('hello_required reconnects; reply_failed drops the stream; other codes notify', () => {
  const c = online();
  c.ws.last().receive({ type: 'error', code: 'reply_failed', reply_to: 'm1' });
  assert.equal(c.seen('replyFailed').length, 1);
  assert.deepEqual(c.seen('notice').at(-1), ['notice', 'reply_failed']);
  c.ws.last().receive({ type: 'error', code: 'something_new' });
  assert.deepEqual(c.seen('notice').at(-1), ['notice', 'something_new']);
  c.ws.last().receive({ type: 'error', code: 'hello_required' });
  assert.equal(c.client.connected, false);
  assert.equal(c.clock.pendingDelays().length, 1);
});

test('bad JSON and unknown frame types are ignored', () => {
  const c = online();
  c.ws.last().receive('{not json');
  c.ws.last().receive({ type: 'from_the_future', x: 1 });
  assert.ok(c.client.live());
});

test('feedback and CSAT are resent after the next welcome until acknowledged', () => {
  const c = online({}, { last_seq: 2, messages: [userMsg(1), botMsg(2)] });
  c.client.feedback('m2', 'up');
  c.client.rate(4);
  assert.deepEqual(c.ws.last().frames('feedback'), [{ type: 'feedback', message_id: 'm2', rating: 'up' }]);
  assert.deepEqual(c.ws.last().frames('csat'), [{ type: 'csat', score: 4 }]);
  assert.deepEqual(stored(c).fb, { m2: 'up' });
  assert.equal(stored(c).csat, 'c1');
  c.ws.last().drop(1006);
  c.clock.advance(1000);
  let sock = c.ws.last().open();
  sock.receive(welcome({ last_seq: 2 }));
  assert.equal(sock.frames('feedback').length, 1);
  assert.equal(sock.frames('csat').length, 1);
  sock.receive({ type: 'feedback_ack', message_id: 'm2', rating: 'up' });
  sock.receive({ type: 'csat_ack', score: 4 });
  sock.drop(1006);
  c.clock.advance(1000);
  sock = c.ws.last().open();
  sock.receive(welcome({ last_seq: 2 }));
  assert.equal(sock.frames('feedback').length, 0);
  assert.equal(sock.frames('csat').length, 0);
});

test('a welcome for a different conversation clears the view but keeps the outbox', () => {
  const c = online({}, { last_seq: 1, messages: [userMsg(1)] });
  c.ws.last().drop(1006);
  c.client.send('typed offline');
  c.clock.advance(1000);
  const sock = c.ws.last().open();
  sock.receive(welcome({ conversation_id: 'c2', visitor_token: 'vt_2' }));
  assert.deepEqual(c.seen('clearing').map((e) => e[1]), [true]);
  assert.equal(stored(c).conv, 'c2');
  assert.equal(c.client.maxSeq, 0);
  assert.deepEqual(sock.frames('message').map((f) => f.text), ['typed offline']);
});

test('reset(): forgets token and outbox and reconnects without a token', () => {
  const c = online({}, { last_seq: 1, messages: [userMsg(1)] });
  c.ws.last().drop(1006);
  c.client.send('pending');
  c.client.reset();
  assert.deepEqual(stored(c).outbox, []);
  assert.equal(stored(c).token, null);
  assert.equal(stored(c).csat, null);
  const hello = c.ws.last().open().sent[0];
  assert.deepEqual(hello, { type: 'hello', v: PROTOCOL_VERSION, last_seq: 0, locale: 'en' });
});

test('offline drops the socket and backs off; online reconnects at once', () => {
  const c = online();
  c.client.offline();
  assert.equal(c.client.connected, false);
  assert.equal(c.seen('status').at(-1)[1], 'offline');
  assert.equal(c.clock.pendingDelays().length, 1);
  c.client.online();
  assert.equal(c.ws.sockets.length, 2);
  assert.equal(c.clock.pendingDelays().length, 0);
});

test('another tab moved to a new conversation: follow it', () => {
  const c = online();
  c.client.storageChanged(JSON.stringify({ token: 'vt_9', conv: 'c9' }));
  assert.equal(c.seen('clearing').length, 1);
  assert.equal(c.ws.sockets.length, 2);
  c.client.storageChanged(JSON.stringify({ token: 'vt_9', conv: 'c9' })); // conv is null until the welcome
  c.ws.last().open().receive(welcome({ conversation_id: 'c9', visitor_token: 'vt_9' }));
  const n = c.seen('clearing').length;
  c.client.storageChanged(JSON.stringify({ token: 'vt_9', conv: 'c9' })); // the same conversation: nothing
  assert.equal(c.seen('clearing').length, n);
  c.client.storageChanged(JSON.stringify({ token: null, conv: null })); // the other tab reset
  assert.equal(c.client.connected, false);
  assert.ok(c.clock.pendingDelays()[0] >= 3000);
});

// ------------------------------------------- rate_limited / unavailable answering a hello
for (const code of ['unavailable', 'rate_limited']) {
  test(`${code} to a hello: "Reconnecting…", then hello again on the same socket after retry_after (plus jitter)`, () => {
    const c = makeClient({ random: () => 0.5 });
    c.client.start();
    c.client.send('typed before the welcome');
    const sock = c.ws.last().open();
    sock.receive({ type: 'error', code, detail: 'Redis down', retry_after: 5 });
    assert.deepEqual(c.seen('status').at(-1), ['status', 'connecting', 'retrying']);
    assert.equal(c.seen('notice').length, 0); // unobtrusive: the header, not an alert
    assert.equal(c.client.stopped, false);
    assert.equal(c.client.connected, true);
    assert.equal(sock.closedWith, null);
    assert.equal(c.seen('failed').length, 0);
    c.clock.advance(4999); // never before retry_after; the jitter adds random(0..1) s = 0.5 s
    assert.equal(sock.frames('hello').length, 1);
    c.clock.advance(500);
    assert.equal(sock.frames('hello').length, 1);
    c.clock.advance(1);
    assert.deepEqual(sock.frames('hello'), [{ type: 'hello', v: PROTOCOL_VERSION, last_seq: 0, locale: 'en' }, { type: 'hello', v: PROTOCOL_VERSION, last_seq: 0, locale: 'en' }]);
    assert.equal(c.ws.sockets.length, 1);
    assert.deepEqual(sock.frames('message'), []);
    sock.receive(welcome());
    assert.equal(c.seen('status').at(-1)[1], 'online');
    assert.equal(c.client.attempt, 0);
    assert.deepEqual(sock.frames('message'), [{ type: 'message', client_id: 'cid-1', text: 'typed before the welcome' }]);
  });
}

test('a refused hello keeps its token and identity; the retry is the same hello', () => {
  const storage = new MemoryStorage();
  storage.setItem(storageKey('pk_test'), JSON.stringify({ token: 'vt_old', conv: 'c0', seq: 0 }));
  const c = makeClient({ storage, random: () => 0 });
  c.client.identify({ userId: 'u1', userHash: 'h1' });
  c.client.start();
  const sock = c.ws.last().open();
  sock.receive({ type: 'error', code: 'unavailable', retry_after: 5 });
  assert.equal(stored(c).token, 'vt_old');
  assert.equal(c.seen('clearing').length, 0);
  c.clock.advance(5000);
  const [a, b] = sock.frames('hello');
  assert.deepEqual(b, a);
  assert.equal(b.visitor_token, 'vt_old');
  assert.equal(b.user_id, 'u1');
});

test('a refused hello without retry_after waits 3 s plus up to 1 s of jitter', () => {
  for (const [rnd, want] of [[0, 3000], [0.5, 3500], [0.999, 3999]]) {
    const c = makeClient({ random: () => rnd });
    c.client.start();
    const sock = c.ws.last().open();
    sock.receive({ type: 'error', code: 'unavailable' });
    c.clock.advance(want - 1);
    assert.equal(sock.frames('hello').length, 1, `random ${rnd}: too early`);
    c.clock.advance(1);
    assert.equal(sock.frames('hello').length, 2, `random ${rnd}: not at ${want} ms`);
  }
});

test('refused again and again: retry_after at least, growing like the backoff up to 15 s', () => {
  const c = makeClient({ random: () => 0 });
  c.client.start();
  const sock = c.ws.last().open();
  const waits = [];
  for (let i = 0; i < 8; i++) {
    const n = sock.frames('hello').length;
    sock.receive({ type: 'error', code: 'unavailable', retry_after: 5 });
    let t = 0;
    while (sock.frames('hello').length === n) { c.clock.advance(100); t += 100; }
    waits.push(t);
  }
  assert.deepEqual(waits, [5000, 5000, 5000, 5000, 8000, 15000, 15000, 15000]);
  sock.receive(welcome());
  sock.drop(1006);
  assert.deepEqual(c.clock.pendingDelays(), [250]); // a welcome resets it
});

test('the socket closes while waiting to say hello again: the next socket opens no earlier than retry_after', () => {
  const c = makeClient({ random: () => 0 });
  c.client.start();
  const first = c.ws.last().open();
  first.receive({ type: 'error', code: 'unavailable', retry_after: 5 });
  c.clock.advance(1000);
  first.drop(1006);
  assert.equal(c.seen('status').at(-1)[1], 'offline');
  c.clock.advance(3999); // the backoff alone would have reconnected after 0.5 s
  assert.equal(c.ws.sockets.length, 1);
  assert.equal(first.frames('hello').length, 1); // nothing said on the dead socket
  c.clock.advance(1);
  assert.equal(c.ws.sockets.length, 2);
  const sock = c.ws.last().open();
  assert.equal(sock.frames('hello').length, 1);
  sock.receive(welcome());
  assert.ok(c.client.live());
  assert.equal(first.frames('hello').length, 1);
});

test('wake() / online() while waiting after a refused hello do not knock before retry_after', () => {
  const c = makeClient({ random: () => 0 });
  c.client.start();
  c.ws.last().open().receive({ type: 'error', code: 'rate_limited', retry_after: 10 });
  c.clock.advance(2000);
  c.client.online(); // not live: drops the socket and reconnects, but waits for retry_after
  c.client.wake();
  assert.equal(c.ws.sockets.length, 1);
  c.clock.advance(7999);
  assert.equal(c.ws.sockets.length, 1);
  c.clock.advance(1);
  assert.equal(c.ws.sockets.length, 2);
});

// ------------------------------------------- unavailable answering a message
test('unavailable to a message: kept pending, resent with the same client_id after retry_after, never failed', () => {
  const c = online();
  c.client.send('where is my order?');
  const sock = c.ws.last();
  sock.receive({ type: 'error', code: 'unavailable', detail: 'Redis down', retry_after: 5, client_id: 'cid-1' });
  assert.equal(c.seen('failed').length, 0);
  assert.equal(c.client.pendingCount, 1);
  assert.deepEqual(stored(c).outbox, [{ client_id: 'cid-1', text: 'where is my order?' }]);
  assert.deepEqual(c.seen('notice'), [['notice', 'busy']]);
  assert.ok(c.client.live());
  c.client.send('second'); // held too
  assert.equal(sock.frames('message').length, 1);
  c.clock.advance(4999);
  assert.equal(sock.frames('message').length, 1);
  c.clock.advance(100);
  assert.deepEqual(sock.frames('message').map((f) => f.client_id), ['cid-1', 'cid-1', 'cid-2']);
  // still unavailable: held again, the notice is not repeated
  sock.receive({ type: 'error', code: 'unavailable', retry_after: 5, client_id: 'cid-1' });
  sock.receive({ type: 'error', code: 'unavailable', retry_after: 5, client_id: 'cid-2' });
  assert.equal(c.seen('notice').length, 1);
  c.clock.advance(5100);
  assert.deepEqual(sock.frames('message').map((f) => f.client_id), ['cid-1', 'cid-1', 'cid-2', 'cid-1', 'cid-2']);
  // the server had stored the first one but could not queue its turn: the resend is a duplicate ack
  sock.receive({ type: 'ack', client_id: 'cid-1', message_id: 'm1', seq: 1, duplicate: true });
  sock.receive({ type: 'ack', client_id: 'cid-2', message_id: 'm2', seq: 2, duplicate: false });
  assert.deepEqual(c.seen('acked').map((e) => [e[1].client_id, e[1].seq]), [['cid-1', 1], ['cid-2', 2]]);
  assert.deepEqual(stored(c).outbox, []);
  assert.equal(c.seen('failed').length, 0);
  assert.equal(c.seen('show').length, 0);
  // after it recovered, a new outage is told again
  c.client.send('third');
  sock.receive({ type: 'error', code: 'unavailable', retry_after: 5, client_id: 'cid-3' });
  assert.deepEqual(c.seen('notice').map((e) => e[1]), ['busy', 'busy']);
});

test('unavailable to a message without retry_after holds 2 s; a reconnect meanwhile resends it after the welcome', () => {
  const c = online();
  c.client.send('x');
  c.ws.last().receive({ type: 'error', code: 'unavailable', client_id: 'cid-1' });
  c.clock.advance(1999);
  assert.equal(c.ws.last().frames('message').length, 1);
  c.clock.advance(100);
  assert.equal(c.ws.last().frames('message').length, 2);
  c.ws.last().receive({ type: 'error', code: 'unavailable', retry_after: 1, client_id: 'cid-1' });
  c.ws.last().drop(1006);
  c.clock.advance(1000);
  const sock = c.ws.last().open();
  sock.receive(welcome());
  c.clock.advance(100);
  assert.deepEqual(sock.frames('message'), [{ type: 'message', client_id: 'cid-1', text: 'x' }]);
  assert.equal(c.seen('failed').length, 0);
});
