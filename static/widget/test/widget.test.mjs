// Strings, theme, the safe Markdown renderer (on a tiny fake DOM) and the shipped bundle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { STR, pickLang, translate } from '../src/strings.js';
import { themeColors, lum, ratio, rgbOf } from '../src/theme.js';

const BUNDLE = readFileSync(new URL('../chatplatform.js', import.meta.url), 'utf8');

test('pickLang: data-locale / bot language / auto from the browser', () => {
  assert.equal(pickLang('zh-hans'), 'zh-hans');
  assert.equal(pickLang('ZH-TW'), 'zh-hans');
  assert.equal(pickLang('en'), 'en');
  assert.equal(pickLang('fr'), 'en');
  assert.equal(pickLang('auto', { languages: ['zh-CN'], language: 'en' }), 'zh-hans');
  assert.equal(pickLang('', { language: 'zh' }), 'zh-hans');
  assert.equal(pickLang(undefined, { languages: [], language: 'de-DE' }), 'en');
  assert.equal(pickLang('auto', undefined), 'en');
});

test('translate: placeholders, English fallback, key fallback; both tables have the same keys', () => {
  assert.equal(translate('en', 'unread', { n: 3 }), '3 unread');
  assert.equal(translate('zh-hans', 'typing', { name: 'Acme' }), 'Acme 正在输入…');
  assert.equal(translate('xx', 'send'), 'Send');
  assert.equal(translate('en', 'no_such_key'), 'no_such_key');
  assert.deepEqual(Object.keys(STR['zh-hans']).sort(), Object.keys(STR.en).sort());
});

test('strings the client asks for while the server refuses (Redis down) exist in both languages', () => {
  for (const lang of ['en', 'zh-hans']) {
    for (const k of ['retrying', 'busy', 'rate_limited', 'unavailable']) assert.ok(STR[lang][k], `${lang}.${k}`);
  }
  assert.equal(translate('en', 'retrying'), 'Reconnecting…');
  assert.equal(translate('zh-hans', 'retrying'), '正在重新连接…');
});

// The same extraction as tests/browser/test_widget_live.py's i18n(): the table must stay readable there.
const i18n = (source, lang) => {
  const key = /^\w+$/.test(lang) ? lang : `'${lang}'`;
  const block = new RegExp(key.replace(/[-]/g, '\\-') + String.raw`:\s*\{([\s\S]*?)\n\s*\},`).exec(source);
  assert.ok(block, `no ${lang} block in the bundle`);
  return Object.fromEntries([...block[1].matchAll(/(\w+):\s*'([^']*)'/g)].map((m) => [m[1], m[2]]));
};

test('bundle: the string table reads as in the sources (single-quoted, as the browser tests parse it)', () => {
  for (const lang of ['en', 'zh-hans']) {
    const got = i18n(BUNDLE, lang);
    const want = Object.fromEntries(Object.entries(STR[lang]).filter(([, v]) => !v.includes("'")));
    assert.deepEqual(got, want);
  }
});

test('bundle: one strict IIFE with the banner, no innerHTML, under 21 KB gzipped', () => {
  assert.match(BUNDLE, /^\/\*! chatplatform widget v1 /);
  assert.match(BUNDLE, /\n"use strict";\n\(\(\) => \{\n/);
  assert.match(BUNDLE, /\n\}\)\(\);\n$/);
  assert.doesNotMatch(BUNDLE, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
  assert.doesNotMatch(BUNDLE, /\/work\/|\/home\/|\\Users\\/); // no absolute paths
  assert.ok(gzipSync(BUNDLE, { level: 9 }).length <= 21504);
});

test('theme: text on the colour and the accent on white reach 4.5:1', () => {
  for (const c of ['#4f46e5', '#fde047', '#ffffff', '#000000', '#14532d', '#38bdf8', 'f00', 'nonsense', undefined]) {
    const t = themeColors(c);
    const base = lum(rgbOf(t.c));
    const other = t.fg === '#ffffff' ? '#111827' : '#ffffff'; // text: whichever contrasts more
    assert.ok(ratio(base, lum(rgbOf(t.fg))) >= ratio(base, lum(rgbOf(other))), c);
    assert.ok(ratio(lum(rgbOf(t.acc)), 1) >= 4.5, c);
  }
  assert.deepEqual(themeColors('nonsense'), themeColors('#2563eb'));
  assert.equal(themeColors('#fde047').fg, '#111827');
  assert.equal(themeColors('#4f46e5').fg, '#ffffff');
});

// ------------------------------------------------------------ Markdown on a fake DOM
class Node_ {
  constructor(tag) { this.tag = tag; this.children = []; this.attrs = {}; this.listeners = {}; }
  append(...xs) { for (const x of xs) this.children.push(typeof x === 'string' ? { text: x } : x); }
  appendChild(x) { this.children.push(x); return x; }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  addEventListener(k, f) { this.listeners[k] = f; }
  set textContent(v) { this.children = v === '' ? [] : [{ text: String(v) }]; }
  set className(v) { this.attrs.class = v; }
  set innerHTML(v) { throw new Error('innerHTML used'); }
}
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const html = (n) => ('text' in n && !n.tag ? esc(n.text)
  : `<${n.tag}${Object.entries(n.attrs).map(([k, v]) => ` ${k}="${v}"`).join('')}${n.start ? ` start="${n.start}"` : ''}>${n.children.map(html).join('')}</${n.tag}>`);
globalThis.document = { createElement: (t) => new Node_(t), createElementNS: (ns, t) => new Node_(t) };
const { md, safeUrl } = await import('../src/markdown.js');
const render = (src) => md(src, new Node_('div')).children.map(html).join('');

test('markdown: the supported subset', () => {
  assert.equal(render('**bold** and *it* and `c<b>`'), '<p><strong>bold</strong> and <em>it</em> and <code>c&lt;b&gt;</code></p>');
  assert.equal(render('a\nb\n\nc'), '<p>a<br></br>b</p><p>c</p>');
  assert.equal(render('- one\n- two'), '<ul><li>one</li><li>two</li></ul>');
  assert.equal(render('3. three\n4. four'), '<ol start="3"><li>three</li><li>four</li></ol>');
  assert.equal(render('# Title'), '<p><strong>Title</strong></p>');
  assert.equal(render('```js\nx < 1\n```'), '<pre tabindex="0"><code>x &lt; 1</code></pre>');
  assert.equal(render('[shipping](https://example.com/s)'), '<p><a href="https://example.com/s" target="_blank" rel="noopener noreferrer">shipping</a></p>');
  assert.equal(render('see https://example.com/a.'), '<p>see <a href="https://example.com/a" target="_blank" rel="noopener noreferrer">https://example.com/a</a>.</p>');
});

test('markdown: HTML and unsafe links stay text', () => {
  assert.equal(render('<script>alert(1)</script><img src=x onerror=alert(1)>'), '<p>&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;</p>');
  assert.equal(render('[x](javascript:alert(1))'), '<p>[x](javascript:alert(1))</p>');
  assert.equal(render('[x](data:text/html,hi)'), '<p>[x](data:text/html,hi)</p>');
  assert.equal(render('[x](/relative)'), '<p>[x](/relative)</p>');
  assert.equal(safeUrl('mailto:a@b.c'), 'mailto:a@b.c');
  assert.equal(safeUrl('JAVASCRIPT:alert(1)'), null);
});
