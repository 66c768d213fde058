// Human handoff (#12) as the visitor sees it: the whole widget (src/ui.js) mounted on a fake DOM
// (dom-fake.mjs) with a scripted socket. Agent messages and typing, the handoff notices, the
// offline form, reloads, zh-hans, and the visitor's throttled typing frames.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STR } from '../src/strings.js';
import { mountWidget, type, submit } from './dom-fake.mjs';
import { welcome, userMsg, botMsg, agentMsg, handoff, ALICE, MemoryStorage } from './fakes.mjs';

const XSS = '<img src=x onerror=alert(1)><script>alert(2)</script>';
const timers = (t) => t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_700_000_000_000 });
const notices = (w) => w.$$('[data-testid=handoff]').map((n) => [n.dataset.status, n.textContent]);
/** Everything inside `el` that a hostile string could have turned into markup. */
const markup = (el) => el.querySelectorAll('script, img, iframe').length;

test('an agent message: the author\'s name and initial, text through the safe Markdown renderer', (t) => {
  timers(t);
  const w = mountWidget();
  w.sock.receive(welcome({ last_seq: 3, messages: [userMsg(1), botMsg(2),
    agentMsg(3, { text: 'Hi, I am **Alice**. ' + XSS, author: { name: 'alice <b>', avatar_url: '' } })] }));
  const bub = w.$('[data-testid=message][data-role=agent]');
  assert.ok(bub, 'no agent bubble');
  assert.equal(bub.dataset.seq, '3');
  assert.equal(bub.querySelector('strong').textContent, 'Alice');
  assert.match(bub.textContent, /<img src=x onerror=alert\(1\)><script>alert\(2\)<\/script>$/);
  const row = bub.parentNode.parentNode;
  assert.ok(row.classList.contains('agent') && row.classList.contains('bot'));
  assert.equal(row.querySelector('[data-testid=author]').textContent, 'alice <b>');
  assert.equal(row.querySelector('.av').textContent, 'A');
  assert.equal(markup(w.root), 0);
  assert.equal(row.querySelectorAll('.fb').length, 0, 'thumbs are for the bot\'s answers');
  assert.equal(w.$$('[data-testid=message][data-role=bot]').length, 1); // not counted as the bot's
  assert.deepEqual(w.$$('[data-testid=message]').map((b) => b.dataset.seq), ['1', '2', '3']);
});

test('an agent\'s name that is markup stays text everywhere: label, avatar, typing, notice', (t) => {
  timers(t);
  const w = mountWidget();
  const author = { name: XSS, avatar_url: 'javascript:alert(1)' };
  w.sock.receive(welcome({ handoff: { status: 'assigned', agent: author } }));
  w.sock.receive(agentMsg(1, { author }));
  w.sock.receive({ type: 'typing', role: 'agent', on: true, author });
  assert.equal(w.$('[data-testid=author]').textContent, XSS);
  assert.equal(w.$('[data-testid=handoff]').textContent, XSS + ' joined the chat.');
  assert.equal(w.$('[data-testid=typing] .who').textContent, XSS + ' is typing…');
  assert.equal(w.$('.row.agent .av').textContent, '<'); // javascript: is no avatar: the initial
  assert.equal(markup(w.root), 0);
});

test('an agent avatar: http(s) only; missing names fall back to "Support agent"', (t) => {
  timers(t);
  const w = mountWidget();
  w.sock.receive(welcome({ last_seq: 3, messages: [
    agentMsg(1, { author: { name: 'Bo', avatar_url: 'https://cdn.example.com/bo.png' } }),
    agentMsg(2, { author: { name: 'Cy', avatar_url: 'data:image/png;base64,AAAA' } }),
    agentMsg(3, { author: null })] }));
  const avs = w.$$('.row.agent .av');
  assert.equal(avs[0].querySelector('img').getAttribute('src'), 'https://cdn.example.com/bo.png');
  assert.equal(avs[0].querySelector('img').getAttribute('referrerpolicy'), 'no-referrer');
  assert.equal(avs[1].querySelector('img'), null);
  assert.equal(avs[1].textContent, 'C');
  assert.equal(w.$$('[data-testid=author]')[2].textContent, 'Support agent');
});

test('agent typing: "{name} is typing…" shown; hidden by on:false, by the agent\'s message, after 30 s', (t) => {
  timers(t);
  const w = mountWidget();
  w.sock.receive(welcome({ handoff: { status: 'assigned', agent: ALICE } }));
  const row = w.$('[data-testid=typing]');
  const typing = (on) => w.sock.receive({ type: 'typing', role: 'agent', on, author: ALICE });
  typing(true);
  assert.equal(row.hidden, false);
  assert.equal(row.querySelector('.who').textContent, 'Alice is typing…'); // visible, not screen-reader only
  assert.equal(row.querySelector('.av').textContent, 'A');
  typing(false);
  assert.equal(row.hidden, true);
  typing(true);
  w.sock.receive(agentMsg(1));
  assert.equal(row.hidden, true);
  typing(true);
  t.mock.timers.tick(29_000);
  assert.equal(row.hidden, false);
  t.mock.timers.tick(1_000);
  assert.equal(row.hidden, true);
  // the bot's indicator afterwards is the bot's again (its name read out, not shown)
  w.sock.receive({ type: 'typing', role: 'bot', on: true });
  assert.equal(row.querySelector('.who'), null);
  assert.equal(row.querySelector('.sr').textContent, 'Acme Support is typing…');
});

test('handoff notices: each status, parts that are null left out, a queue move rewrites the notice', (t) => {
  timers(t);
  const w = mountWidget();
  w.sock.receive(welcome({ last_seq: 1, messages: [userMsg(1)] }));
  assert.deepEqual(notices(w), []); // status bot from the start: nothing to say
  const log = w.$('[role=log]');
  assert.equal(log.getAttribute('aria-live'), 'polite');
  w.sock.receive(handoff('queued', { position: 3, expected_wait_s: 150 }));
  assert.deepEqual(notices(w), [['queued', "You're number 3 in line (about 3 min)."]]);
  w.sock.receive(handoff('queued', { position: 2, expected_wait_s: null }));
  assert.deepEqual(notices(w), [['queued', "You're number 2 in line."]]);
  w.sock.receive(handoff('queued', { position: null, expected_wait_s: 20 }));
  assert.deepEqual(notices(w), [['queued', "You're in line (about 1 min)."]]);
  w.sock.receive(handoff('queued'));
  assert.deepEqual(notices(w), [['queued', "You're in line."]]);
  w.sock.receive(handoff('assigned', { agent: ALICE }));
  w.sock.receive(agentMsg(2));
  w.sock.receive(handoff('bot'));
  w.sock.receive(botMsg(3));
  w.sock.receive(handoff('resolved', { agent: ALICE }));
  w.sock.receive(handoff('resolved'));
  assert.deepEqual(notices(w), [
    ['queued', "You're in line."],
    ['assigned', 'Alice joined the chat.'],
    ['bot', "You're back with the assistant."],
    ['resolved', 'The team closed this chat. Send a message to start again.']]);
  // in the transcript, in order with the messages
  const order = log.children.filter((c) => !c.hidden).map((c) => c.dataset.status || c.querySelector('[data-testid=message]')?.dataset.seq || 'greeting');
  assert.deepEqual(order, ['greeting', '1', 'queued', 'assigned', '2', 'bot', '3', 'resolved']);
  // resolved is only a notice: the visitor can write again
  type(w.$('[data-testid=input]'), 'one more thing');
  submit(w.$('form.comp'));
  assert.equal(w.sock.frames('message').at(-1).text, 'one more thing');
});

test('a reload shows the current state once (from the welcome); a reconnect does not repeat it', (t) => {
  timers(t);
  const storage = new MemoryStorage();
  const state = { status: 'assigned', position: null, expected_wait_s: null, agent: ALICE };
  const a = mountWidget({ storage });
  a.sock.receive(welcome({ last_seq: 1, messages: [userMsg(1)] }));
  a.sock.receive(handoff('queued', { position: 1 }));
  a.sock.receive({ ...handoff('assigned'), ...state });
  a.sock.receive(agentMsg(2));
  const b = mountWidget({ storage }); // the page reloads
  b.sock.receive(welcome({ last_seq: 2, messages: [userMsg(1), agentMsg(2)], handoff: state }));
  b.sock.receive({ type: 'handoff', ...state }); // the same state published again
  assert.deepEqual(notices(b), [['assigned', 'Alice joined the chat.']]);
  b.sock.drop(1006);
  t.mock.timers.tick(1000);
  const again = b.ws.last().open();
  again.receive(welcome({ last_seq: 2, handoff: state }));
  assert.deepEqual(notices(b), [['assigned', 'Alice joined the chat.']]);
  assert.deepEqual(b.$$('[data-testid=message]').map((m) => m.dataset.seq), ['1', '2']);
  // a reload while the conversation is with the bot shows no notice at all
  const c = mountWidget({ storage });
  c.sock.receive(welcome({ last_seq: 2, messages: [userMsg(1), agentMsg(2)], handoff: { status: 'bot' } }));
  assert.deepEqual(notices(c), []);
});

test('offline: a notice and a labelled form, the first field focused; submit sends offline_ticket; ack thanks', (t) => {
  timers(t);
  const w = mountWidget();
  w.sock.receive(welcome({ handoff: { status: 'offline' } }));
  assert.deepEqual(notices(w), [['offline', "No one is available right now. Leave a message and we'll reply by e-mail."]]);
  const box = w.$('[data-testid=offline-form]');
  assert.equal(box.hidden, false);
  const form = box.querySelector('form');
  assert.equal(w.root.querySelector('#' + form.getAttribute('aria-labelledby')).textContent, 'Leave a message');
  const labels = box.querySelectorAll('label').map((l) => [l.children[0].textContent, l.children[1].tagName, l.children[1].type, l.children[1].required]);
  assert.deepEqual(labels, [['Name', 'INPUT', 'text', false], ['E-mail', 'INPUT', 'email', true], ['Message', 'TEXTAREA', '', true]]);
  t.mock.timers.tick(20);
  assert.equal(w.focused(), box.querySelector('[name=name]'));
  const btn = box.querySelector('[data-testid=ticket-send]');
  assert.equal(btn.type, 'submit'); // Enter in a field or the button submits
  // a message of spaces passes `required`: not sent, the field gets focus
  box.querySelector('[name=email]').value = 'ann@example.com';
  box.querySelector('[name=message]').value = '   ';
  submit(form);
  assert.deepEqual(w.sock.frames('offline_ticket'), []);
  assert.equal(w.focused(), box.querySelector('[name=message]'));
  box.querySelector('[name=name]').value = 'Ann <b>';
  box.querySelector('[name=message]').value = 'Please call me back.';
  submit(form);
  submit(form); // a double submit sends one ticket
  const [sent, ...more] = w.sock.frames('offline_ticket');
  assert.equal(more.length, 0);
  assert.deepEqual({ ...sent, client_id: 'x' }, { type: 'offline_ticket', client_id: 'x', name: 'Ann <b>', email: 'ann@example.com', message: 'Please call me back.' });
  assert.match(sent.client_id, /^[0-9a-f-]{36}$/);
  assert.equal(btn.textContent, 'Sending…');
  w.sock.receive({ type: 'offline_ticket_ack', client_id: sent.client_id });
  const thanks = box.querySelector('[data-testid=offline-thanks]');
  assert.equal(thanks.textContent, "Thanks — we'll get back to you by e-mail.");
  assert.equal(thanks.getAttribute('role'), 'status');
  assert.equal(box.querySelector('form'), null);
  assert.equal(w.focused(), thanks); // focus was on the button that is gone
});

test('offline: an error with the ticket\'s client_id is shown by the form; it can be sent again', (t) => {
  timers(t);
  const w = mountWidget();
  w.sock.receive(welcome({ handoff: { status: 'offline' } }));
  const box = w.$('[data-testid=offline-form]');
  const form = box.querySelector('form');
  box.querySelector('[name=email]').value = 'ann@example.com';
  box.querySelector('[name=message]').value = 'Hello';
  submit(form);
  const first = w.sock.frames('offline_ticket')[0];
  w.sock.receive({ type: 'error', code: 'bad_frame', detail: 'email: enter a valid address <x>', client_id: first.client_id });
  const err = box.querySelector('[data-testid=ticket-error]');
  assert.equal(err.hidden, false);
  assert.equal(err.getAttribute('role'), 'alert');
  assert.equal(err.textContent, 'email: enter a valid address <x>');
  assert.equal(w.$('[data-testid=notice]').hidden, true); // not the chat's error notice
  assert.equal(box.querySelector('[data-testid=ticket-send]').textContent, 'Send');
  assert.equal(box.querySelector('[name=message]').value, 'Hello'); // nothing typed is lost
  submit(form);
  const second = w.sock.frames('offline_ticket')[1];
  assert.notEqual(second.client_id, first.client_id);
  // a known code gets the widget's own words
  w.sock.receive({ type: 'error', code: 'rate_limited', detail: 'Too many.', retry_after: 60, client_id: second.client_id });
  assert.equal(err.textContent, STR.en.rate_limited);
});

test('offline: a reload keeps the thanks while still offline; leaving offline hides the form', (t) => {
  timers(t);
  const storage = new MemoryStorage();
  const a = mountWidget({ storage });
  a.sock.receive(welcome({ handoff: { status: 'offline' } }));
  a.$('[name=email]').value = 'ann@example.com';
  a.$('[name=message]').value = 'Hello';
  submit(a.$('[data-testid=offline-form] form'));
  a.sock.receive({ type: 'offline_ticket_ack', client_id: a.sock.frames('offline_ticket')[0].client_id });
  const b = mountWidget({ storage });
  b.sock.receive(welcome({ handoff: { status: 'offline' } }));
  assert.equal(notices(b).length, 1);
  assert.ok(b.$('[data-testid=offline-thanks]'));
  assert.equal(b.$('[data-testid=offline-form] form'), null);
  b.sock.receive(handoff('bot'));
  assert.equal(b.$('[data-testid=offline-form]').hidden, true);
  assert.deepEqual(notices(b).map((n) => n[0]), ['offline', 'bot']);
});

test('no idle CSAT prompt while the visitor waits for or talks to a person; it comes back with the bot', (t) => {
  timers(t);
  const w = mountWidget();
  const quiet = (ms) => { for (let i = 0; i < ms; i += 20_000) { t.mock.timers.tick(20_000); w.sock.receive({ type: 'pong' }); } };
  w.sock.receive(welcome({ last_seq: 2, messages: [userMsg(1), botMsg(2)] }));
  w.sock.receive(handoff('queued', { position: 1 }));
  quiet(200_000);
  assert.equal(w.$('[data-testid=csat]').hidden, true);
  w.sock.receive(handoff('assigned', { agent: ALICE }));
  w.sock.receive(agentMsg(3));
  quiet(200_000);
  assert.equal(w.$('[data-testid=csat]').hidden, true);
  w.sock.receive(handoff('resolved', { agent: ALICE }));
  w.sock.receive(agentMsg(4, { text: 'Bye!' }));
  quiet(200_000);
  assert.equal(w.$('[data-testid=csat]').hidden, false);
});

test('the form does not steal focus when the panel is closed', (t) => {
  timers(t);
  const w = mountWidget({ open: false });
  w.sock.receive(welcome({ handoff: { status: 'offline' } }));
  t.mock.timers.tick(20);
  assert.equal(w.focused(), null);
});

test('zh-hans: every new string exists and is used', (t) => {
  const keys = ['agent', 'team', 'hQueued', 'hQueuedAt', 'hWait', 'hAssigned', 'hBot', 'hResolved', 'hOffline',
    'tkTitle', 'tkName', 'tkEmail', 'tkMsg', 'tkThanks'];
  for (const k of keys) {
    assert.ok(STR.en[k], 'en.' + k);
    assert.ok(STR['zh-hans'][k], 'zh-hans.' + k);
    assert.notEqual(STR['zh-hans'][k], STR.en[k], 'zh-hans.' + k + ' is not translated');
  }
  assert.deepEqual(Object.keys(STR['zh-hans']).sort(), Object.keys(STR.en).sort());
  timers(t);
  const w = mountWidget({ ds: { locale: 'zh-hans' } });
  w.sock.receive(welcome({ last_seq: 1, messages: [agentMsg(1, { author: null })] }));
  w.sock.receive(handoff('queued', { position: 2, expected_wait_s: 300 }));
  w.sock.receive(handoff('resolved'));
  w.sock.receive(handoff('offline'));
  assert.deepEqual(notices(w).map((n) => n[1]), ['你排在第 2 位（预计约 5 分钟）。', '客服团队 已结束本次对话。发送消息即可重新开始。', STR['zh-hans'].hOffline]);
  assert.equal(w.$('[data-testid=author]').textContent, '人工客服');
  assert.deepEqual(w.$$('.tk label').map((l) => l.children[0].textContent), ['姓名', '电子邮件', '内容']);
});

test('visitor typing: on at most every 4 s while typing, off after 5 s idle and when the message is sent', (t) => {
  timers(t);
  const w = mountWidget();
  w.sock.receive(welcome({ handoff: { status: 'assigned', agent: ALICE } }));
  const input = w.$('[data-testid=input]');
  const typing = () => w.sock.frames('typing').map((f) => f.on);
  type(input, 'h');
  type(input, 'he');
  assert.deepEqual(typing(), [true]);
  t.mock.timers.tick(3000);
  type(input, 'hel');
  assert.deepEqual(typing(), [true]);
  t.mock.timers.tick(1500);
  type(input, 'hell');
  assert.deepEqual(typing(), [true, true]);
  t.mock.timers.tick(5000);
  assert.deepEqual(typing(), [true, true, false]);
  type(input, 'hello');
  submit(w.$('form.comp'));
  assert.deepEqual(typing(), [true, true, false, true, false]);
  assert.equal(w.sock.frames('message').at(-1).text, 'hello');
});
