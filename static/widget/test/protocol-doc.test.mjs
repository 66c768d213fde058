// docs/protocol.md is the reference: the constants in src/protocol.js must say the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as P from '../src/protocol.js';

const doc = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');
const section = (title) => {
  const start = doc.indexOf('\n## ' + title + '\n');
  assert.ok(start >= 0, `docs/protocol.md has no "## ${title}" section`);
  const end = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, end < 0 ? undefined : end);
};

test('protocol version: the title, the hello and the welcome examples', () => {
  const title = /^# WebSocket chat protocol\s+\S+\s+v(\d+)\s*$/m.exec(doc);
  assert.ok(title, 'title "# WebSocket chat protocol — vN" not found');
  assert.equal(+title[1], P.PROTOCOL_VERSION);
  const vs = [...doc.matchAll(/"type":\s*"(hello|welcome)",\s*"v":\s*(\d+)/g)];
  assert.ok(vs.length >= 2, 'no hello/welcome example with "v"');
  for (const [, type, v] of vs) assert.equal(+v, P.PROTOCOL_VERSION, `${type} example says v ${v}`);
  assert.match(section('Client → server'), new RegExp('`v`\\s*\\|\\s*int\\s*\\|\\s*protocol version, `' + P.PROTOCOL_VERSION + '`'));
});

test('close codes: the table in "Close codes" lists exactly the constants', () => {
  const rows = [...section('Close codes').matchAll(/^\|\s*(\d{4})\s*\|/gm)].map((m) => +m[1]);
  assert.ok(rows.length, 'no close code rows');
  assert.deepEqual([...rows].sort(), Object.values(P.CLOSE).sort());
});

test('close codes: what the widget does on each matches the client constants', () => {
  const s = section('Close codes');
  const row = (code) => s.split('\n').find((l) => l.startsWith('| ' + code + ' '));
  assert.match(row(P.CLOSE.REFUSED), /stop reconnecting/);
  assert.match(row(P.CLOSE.REFUSED), new RegExp('up to ' + P.REFUSED_CAP_MS / 1000 + ' s between tries once it has failed ' + P.REFUSED_AFTER + ' times'));
  assert.match(row(P.CLOSE.POLICY), new RegExp('waits at least ' + P.POLICY_WAIT_MS / 1000 + ' s'));
  assert.match(row(P.CLOSE.TOO_LARGE), /reconnects normally/);
});

test('reconnect backoff formula and ping/dead timings', () => {
  const m = /`min\((\d+(?:\.\d+)?) s, (\d+(?:\.\d+)?) s · 2\^attempt\) · random\(0\.5\.\.1\)`/.exec(section('Close codes'));
  assert.ok(m, 'backoff formula not found');
  assert.equal(+m[1] * 1000, P.BACKOFF_CAP_MS);
  assert.equal(+m[2] * 1000, P.BACKOFF_BASE_MS);
  const ping = /pings every (\d+) s and treats a socket that delivered no frame at all for\s+(\d+) s as dead/.exec(doc);
  assert.ok(ping, 'ping sentence not found');
  assert.equal(+ping[1] * 1000, P.PING_MS);
  assert.equal(+ping[2] * 1000, P.DEAD_MS);
});

test('backoff(): the formula', () => {
  assert.equal(P.backoff(0, true, 1), 500);
  assert.equal(P.backoff(0, true, 0), 250);
  assert.equal(P.backoff(3, true, 1), 4000);
  assert.equal(P.backoff(9, true, 1), P.BACKOFF_CAP_MS);
  assert.equal(P.backoff(6, false, 1), P.BACKOFF_CAP_MS);
  assert.equal(P.backoff(P.REFUSED_AFTER, false, 1), P.REFUSED_CAP_MS);
  assert.equal(P.backoff(P.REFUSED_AFTER, true, 1), P.BACKOFF_CAP_MS);
});
