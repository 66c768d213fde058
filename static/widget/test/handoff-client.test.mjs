// Human handoff (#12) in the protocol client: agent messages and typing, the handoff state reported
// once per change, and the offline ticket's round trip (docs/protocol.md, "Human handoff").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { storageKey } from '../src/store.js';
import { makeClient, online, welcome, userMsg, botMsg, agentMsg, handoff, ALICE } from './fakes.mjs';

const stored = (c) => JSON.parse(c.storage.getItem(storageKey('pk_test')) || '{}');
const handoffs = (c) => c.seen('handoff').map(([, s, isNew]) => [s.status, isNew]);

test('agent messages are replayed and deduped by id/seq exactly like bot messages', () => {
  const c = online({}, { last_seq: 3, messages: [userMsg(1), botMsg(2), agentMsg(3)] });
  assert.deepEqual(c.seen('show').map((e) => [e[1].role, e[2]]), [['user', 1], ['bot', 2], ['agent', 3]]);
  c.ws.last().receive(agentMsg(3)); // the group copy
  c.ws.last().receive({ ...agentMsg(9), id: 'm3' }); // known id
  assert.equal(c.seen('show').length, 3);
  c.ws.last().drop(1006);
  c.clock.advance(1000);
  const sock = c.ws.last().open();
  assert.equal(sock.sent[0].last_seq, 3);
  sock.receive(welcome({ last_seq: 5, messages: [agentMsg(3), agentMsg(4), userMsg(5)] }));
  assert.deepEqual(c.seen('show').map((e) => e[2]), [1, 2, 3, 4, 5]);
  sock.receive(agentMsg(7)); // a gap: resume, as for any message
  assert.deepEqual(sock.frames('resume'), [{ type: 'resume', last_seq: 5 }]);
});

test('an agent message is never taken for the visitor\'s pending message', () => {
  const c = online();
  c.client.send('hello?');
  c.ws.last().receive(agentMsg(1, { client_id: 'cid-1' })); // same client_id as the pending one
  assert.equal(c.client.pendingCount, 1);
  assert.equal(c.seen('confirmed').length, 0);
  assert.equal(c.seen('show').length, 1);
  assert.equal(c.client.hasUserMessage(), false);
});

test('typing: an agent\'s carries its author; the bot\'s none; the visitor\'s own (other tab) is ignored', () => {
  const c = online();
  const sock = c.ws.last();
  sock.receive({ type: 'typing', role: 'agent', on: true, author: ALICE });
  sock.receive({ type: 'typing', role: 'agent', on: false });
  sock.receive({ type: 'typing', role: 'bot', on: true });
  sock.receive({ type: 'typing', role: 'user', on: true });
  assert.deepEqual(c.seen('typing'), [['typing', true, ALICE], ['typing', false, {}], ['typing', true, null]]);
});

test('handoff: each state once; a status or agent change is new, a position/wait change updates it', () => {
  const c = online({}, { handoff: { status: 'bot', position: null, expected_wait_s: null, agent: null } });
  const sock = c.ws.last();
  assert.deepEqual(handoffs(c), [['bot', false]]); // the normal state: nothing to announce
  sock.receive(handoff('queued', { position: 3, expected_wait_s: 240 }));
  sock.receive(handoff('queued', { position: 3, expected_wait_s: 240 })); // published twice
  sock.receive(handoff('queued', { position: 2, expected_wait_s: 120 }));
  sock.receive(handoff('assigned', { agent: ALICE }));
  sock.receive(handoff('assigned', { agent: { name: 'Bob', avatar_url: '' } })); // a transfer
  sock.receive(handoff('bot', { agent: { name: 'Bob', avatar_url: '' } }));
  sock.receive(handoff('resolved', { agent: ALICE }));
  sock.receive(handoff('escalated')); // a status from the future: ignored
  assert.deepEqual(handoffs(c), [['bot', false], ['queued', true], ['queued', false], ['assigned', true],
    ['assigned', true], ['bot', true], ['resolved', true]]);
  assert.deepEqual(c.seen('handoff')[2][1], { status: 'queued', position: 2, expected_wait_s: 120, agent: null });
});

test('handoff: a reconnect\'s welcome with the same state reports nothing; a new conversation starts over', () => {
  const c = online({}, { last_seq: 1, messages: [userMsg(1)], handoff: { status: 'assigned', agent: ALICE } });
  assert.deepEqual(handoffs(c), [['assigned', true]]);
  c.ws.last().drop(1006);
  c.clock.advance(1000);
  c.ws.last().open().receive(welcome({ last_seq: 1, handoff: { status: 'assigned', agent: ALICE } }));
  assert.deepEqual(handoffs(c), [['assigned', true]]);
  c.client.reset();
  c.ws.last().open().receive(welcome({ conversation_id: null, visitor_token: 'vt_2', handoff: { status: 'bot' } }));
  assert.deepEqual(handoffs(c), [['assigned', true], ['bot', false]]);
});

test('handoff: the welcome\'s state is reported after its replayed messages', () => {
  const c = online({}, { last_seq: 2, messages: [userMsg(1), agentMsg(2)], handoff: { status: 'resolved', agent: ALICE } });
  const order = c.events.filter((e) => e[0] === 'show' || e[0] === 'handoff').map((e) => e[0]);
  assert.deepEqual(order, ['show', 'show', 'handoff']);
});

test('offline ticket: sent with a client_id, resent after a reconnect until acknowledged', () => {
  const c = online({}, { handoff: { status: 'offline' } });
  const form = { name: 'Ann', email: 'ann@example.com', message: 'Call me' };
  c.client.ticket(form);
  const want = { type: 'offline_ticket', client_id: 'cid-1', ...form };
  assert.deepEqual(c.ws.last().frames('offline_ticket'), [want]);
  assert.equal(c.client.ticketPending, true);
  c.ws.last().drop(1006); // no ack yet
  c.clock.advance(1000);
  const sock = c.ws.last().open();
  assert.deepEqual(sock.frames('offline_ticket'), []); // not before the welcome
  sock.receive(welcome({ handoff: { status: 'offline' } }));
  assert.deepEqual(sock.frames('offline_ticket'), [want]);
  sock.receive({ type: 'offline_ticket_ack', client_id: 'other' });
  assert.equal(c.seen('ticketSent').length, 0);
  sock.receive({ type: 'offline_ticket_ack', client_id: 'cid-1' });
  assert.equal(c.seen('ticketSent').length, 1);
  assert.equal(c.client.ticketPending, false);
  assert.equal(stored(c).ticket, true); // a reload shows the thanks, not the form again
  sock.drop(1006);
  c.clock.advance(1000);
  c.ws.last().open().receive(welcome({ handoff: { status: 'offline' } }));
  assert.deepEqual(c.ws.last().frames('offline_ticket'), []);
  c.ws.last().receive(handoff('bot'));
  assert.equal(stored(c).ticket, false); // the next offline period asks again
});

test('offline ticket: an error with its client_id goes to the form, not the chat notice or the outbox hold', () => {
  const c = online({}, { handoff: { status: 'offline' } });
  c.client.ticket({ name: '', email: 'bad', message: 'x' });
  const err = { type: 'error', code: 'rate_limited', detail: 'Too many tickets.', retry_after: 30, client_id: 'cid-1' };
  c.ws.last().receive(err);
  assert.deepEqual(c.seen('ticketFailed'), [['ticketFailed', err]]);
  assert.equal(c.seen('notice').length, 0);
  assert.equal(c.client.ticketPending, false);
  c.client.send('still there?'); // messages are not held by the ticket's rate limit
  assert.deepEqual(c.ws.last().frames('message').map((f) => f.text), ['still there?']);
});

test('offline ticket written while disconnected goes out after the welcome', () => {
  const c = makeClient();
  c.client.start();
  c.client.ticket({ name: 'Ann', email: 'ann@example.com', message: 'hi' });
  c.ws.last().open().receive(welcome());
  assert.equal(c.ws.last().frames('offline_ticket').length, 1);
});
