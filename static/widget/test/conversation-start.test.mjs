// Protocol v2: the welcome of a first visit has no conversation (its token names the visitor); the
// conversation and its token arrive with the first message's ack and are stored like a welcome's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROTOCOL_VERSION } from '../src/protocol.js';
import { storageKey } from '../src/store.js';
import { makeClient, online, welcome, botMsg, MemoryStorage } from './fakes.mjs';

const stored = (c) => JSON.parse(c.storage.getItem(storageKey('pk_test')) || '{}');
const firstVisit = (opts) => online(opts, { conversation_id: null, visitor_token: 'vt_visitor' });

test('a first visit: no conversation yet, the visitor token is stored for the next hello', () => {
  assert.equal(PROTOCOL_VERSION, 2);
  const c = firstVisit();
  assert.equal(c.client.conv, null);
  assert.equal(stored(c).token, 'vt_visitor');
  assert.equal(stored(c).conv, null);
  assert.ok(c.client.live());
  assert.deepEqual(c.seen('welcomed').at(-1), ['welcomed', null]);
  c.ws.last().drop(1006);
  c.clock.advance(1000);
  const hello = c.ws.last().open().sent[0];
  assert.deepEqual(hello, { type: 'hello', v: PROTOCOL_VERSION, last_seq: 0, locale: 'en', visitor_token: 'vt_visitor' });
});

test('the ack of the first message brings the conversation and its token; reconnects resume it', () => {
  const c = firstVisit();
  c.client.send('hi');
  assert.deepEqual(c.ws.last().frames('message'), [{ type: 'message', client_id: 'cid-1', text: 'hi' }]);
  c.ws.last().receive({ type: 'ack', client_id: 'cid-1', message_id: 'm1', seq: 1, duplicate: false, conversation_id: 'c7', visitor_token: 'vt_c7' });
  assert.equal(c.client.conv, 'c7');
  assert.equal(stored(c).token, 'vt_c7');
  assert.equal(stored(c).conv, 'c7');
  assert.deepEqual(c.seen('conversation'), [['conversation', 'c7']]);
  assert.equal(c.client.pendingCount, 0);
  assert.deepEqual(stored(c).outbox, []);
  // A later ack (no token) changes nothing.
  c.client.send('more');
  c.ws.last().receive({ type: 'ack', client_id: 'cid-2', message_id: 'm2', seq: 2, duplicate: false });
  assert.equal(stored(c).token, 'vt_c7');
  assert.equal(c.seen('conversation').length, 1);
  // Reconnect: the hello carries the conversation's token and the highest seq.
  c.ws.last().drop(1006);
  c.clock.advance(1000);
  assert.deepEqual(c.ws.last().open().sent[0], { type: 'hello', v: PROTOCOL_VERSION, last_seq: 2, locale: 'en', visitor_token: 'vt_c7' });
  c.ws.last().receive(welcome({ conversation_id: 'c7', visitor_token: 'vt_c7b', last_seq: 3, messages: [botMsg(3)] }));
  assert.equal(c.seen('clearing').length, 0); // the same conversation: nothing forgotten
  assert.equal(stored(c).token, 'vt_c7b');
  assert.equal(c.client.maxSeq, 3);
});

test('a reload before the ack arrived resends the first message with the visitor token and its client_id', () => {
  const storage = new MemoryStorage();
  const a = firstVisit({ storage });
  a.client.send('hello?');
  a.ws.last().drop(1006); // the ack never came
  const b = makeClient({ storage }); // the page reloads
  b.client.restoreOutbox();
  b.client.start();
  const sock = b.ws.last().open();
  assert.equal(sock.sent[0].visitor_token, 'vt_visitor');
  // The server found the conversation the first message created: welcome for it, replaying the message.
  sock.receive(welcome({ conversation_id: 'c8', visitor_token: 'vt_c8', last_seq: 1,
    messages: [{ type: 'message', id: 'm1', seq: 1, role: 'user', text: 'hello?', client_id: 'cid-1', created_at: '2026-01-01T00:00:00Z' }] }));
  assert.equal(b.client.conv, 'c8');
  assert.equal(stored(b).token, 'vt_c8');
  assert.equal(b.client.pendingCount, 0); // confirmed by the replay
  assert.deepEqual(sock.frames('message'), []);
});

test('another tab storing the new conversation: a tab without one follows it', () => {
  const c = firstVisit();
  c.client.storageChanged(JSON.stringify({ token: 'vt_visitor', conv: null })); // another tab's visitor welcome
  assert.equal(c.ws.sockets.length, 1);
  const other = JSON.stringify(Object.assign(stored(c), { token: 'vt_c9', conv: 'c9' }));
  c.storage.setItem(storageKey('pk_test'), other); // what the other tab wrote, then its storage event
  c.client.storageChanged(other);
  assert.equal(c.ws.sockets.length, 2);
  assert.equal(c.ws.last().open().sent[0].visitor_token, 'vt_c9');
});

test('no_conversation (a rating before any message) is not resent after the next welcome', () => {
  const c = firstVisit();
  c.client.rate(5);
  assert.equal(c.ws.last().frames('csat').length, 1);
  c.ws.last().receive({ type: 'error', code: 'no_conversation', detail: 'send a message first' });
  c.ws.last().drop(1006);
  c.clock.advance(1000);
  c.ws.last().open().receive(welcome({ conversation_id: null, visitor_token: 'vt_visitor' }));
  assert.equal(c.ws.last().frames('csat').length, 0);
  assert.equal(c.seen('notice').filter((e) => e[1] === 'no_conversation').length, 0);
});
