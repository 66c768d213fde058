// A small fake DOM, enough to mount the whole widget (src/ui.js) under node's test runner: elements,
// text nodes, attributes/dataset/classList, a shadow root, focus, listeners, and querySelector(All)
// for compound selectors (tag, #id, .class, [attr], [attr=value]) joined by descendant spaces.
// Timers are the test's (t.mock.timers): window's and requestAnimationFrame go through the globals.
import { createWidget } from '../src/ui.js';
import { socketFactory, MemoryStorage } from './fakes.mjs';

class Text {
  constructor(text) { this.data = String(text); this.parentNode = null; }
  get textContent() { return this.data; }
  remove() { if (this.parentNode) this.parentNode.removeChild(this); }
}

const camelToData = (k) => 'data-' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

class Element {
  constructor(tag, doc) {
    this.tagName = String(tag).toUpperCase();
    this.ownerDocument = doc;
    this.childNodes = [];
    this.parentNode = null;
    this.attrs = new Map();
    this.listeners = {};
    this.style = { setProperty() {} };
    this.value = '';
    this.scrollTop = 0; this.scrollHeight = 0; this.clientHeight = 0;
    this.dataset = new Proxy({}, {
      get: (t, k) => (typeof k === 'string' ? this.getAttribute(camelToData(k)) ?? undefined : undefined),
      set: (t, k, v) => { this.setAttribute(camelToData(k), v); return true; },
    });
    const el = this;
    this.classList = {
      contains: (c) => el.className.split(/\s+/).includes(c),
      add: (c) => { if (!el.classList.contains(c)) el.className = (el.className + ' ' + c).trim(); },
      remove: (c) => { el.className = el.className.split(/\s+/).filter((x) => x && x !== c).join(' '); },
      toggle: (c, on = !el.classList.contains(c)) => { if (on) el.classList.add(c); else el.classList.remove(c); return on; },
    };
  }
  // ---- attributes
  setAttribute(k, v) { this.attrs.set(k, String(v)); }
  getAttribute(k) { return this.attrs.has(k) ? this.attrs.get(k) : null; }
  hasAttribute(k) { return this.attrs.has(k); }
  removeAttribute(k) { this.attrs.delete(k); }
  get attributes() { return Array.from(this.attrs, ([name, value]) => ({ name, value })); }
  get className() { return this.getAttribute('class') || ''; }
  set className(v) { this.setAttribute('class', v); }
  get id() { return this.getAttribute('id') || ''; }
  get hidden() { return this.hasAttribute('hidden'); }
  set hidden(v) { if (v) this.setAttribute('hidden', ''); else this.removeAttribute('hidden'); }
  get disabled() { return this.hasAttribute('disabled'); }
  set disabled(v) { if (v) this.setAttribute('disabled', ''); else this.removeAttribute('disabled'); }
  get type() { return this.getAttribute('type') || (this.tagName === 'INPUT' ? 'text' : ''); }
  get required() { return this.hasAttribute('required'); }
  get title() { return this.getAttribute('title') || ''; }
  set title(v) { this.setAttribute('title', v); }
  // ---- tree
  get children() { return this.childNodes.filter((n) => n instanceof Element); }
  get firstChild() { return this.childNodes[0] || null; }
  append(...xs) { for (const x of xs) this.insertBefore(typeof x === 'string' ? new Text(x) : x, null); }
  appendChild(x) { return this.insertBefore(x, null); }
  insertBefore(x, ref) {
    if (x.parentNode) x.parentNode.removeChild(x);
    const i = ref ? this.childNodes.indexOf(ref) : -1;
    if (i < 0) this.childNodes.push(x); else this.childNodes.splice(i, 0, x);
    x.parentNode = this;
    return x;
  }
  removeChild(x) { this.childNodes = this.childNodes.filter((n) => n !== x); x.parentNode = null; return x; }
  remove() { if (this.parentNode) this.parentNode.removeChild(this); }
  after(x) {
    const p = this.parentNode, next = p.childNodes[p.childNodes.indexOf(this) + 1] || null;
    p.insertBefore(x, next);
  }
  contains(x) { for (let n = x; n; n = n.parentNode) if (n === this) return true; return false; }
  get textContent() { return this.childNodes.map((n) => n.textContent).join(''); }
  set textContent(v) {
    for (const n of this.childNodes) n.parentNode = null;
    this.childNodes = v === '' || v == null ? [] : [new Text(v)];
    for (const n of this.childNodes) n.parentNode = this;
  }
  // ---- behaviour
  addEventListener(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); }
  dispatchEvent(ev) {
    ev.target = ev.target || this;
    ev.defaultPrevented = false;
    ev.preventDefault = () => { ev.defaultPrevented = true; };
    ev.stopPropagation = () => {};
    ev.composedPath = () => { const path = []; for (let n = this; n; n = n.parentNode || n.host) path.push(n); return path; };
    for (const fn of (this.listeners[ev.type] || []).slice()) fn(ev);
    return !ev.defaultPrevented;
  }
  focus() { this.ownerDocument.focused = this; }
  click() { this.dispatchEvent({ type: 'click' }); }
  attachShadow() { this.shadowRoot = new ShadowRoot(this.ownerDocument, this); return this.shadowRoot; }
  // ---- selectors
  querySelectorAll(sel) {
    const out = [];
    const walk = (n) => { for (const c of n.children) { if (matches(c, sel, this)) out.push(c); walk(c); } };
    walk(this);
    return out;
  }
  querySelector(sel) { return this.querySelectorAll(sel)[0] || null; }
}

class ShadowRoot extends Element {
  constructor(doc, host) { super('#shadow-root', doc); this.host = host; }
  get activeElement() { const f = this.ownerDocument.focused; return f && this.contains(f) ? f : null; }
}

const COMPOUND = /([a-z][\w-]*)|#([\w-]+)|\.([\w-]+)|\[([\w-]+)(?:=(?:"([^"]*)"|'([^']*)'|([^\]]*)))?\]/gy;
const compound = (el, part) => {
  COMPOUND.lastIndex = 0;
  let m, used = 0;
  while (used < part.length && (m = COMPOUND.exec(part))) {
    used = COMPOUND.lastIndex;
    if (m[1] && el.tagName !== m[1].toUpperCase()) return false;
    if (m[2] && el.id !== m[2]) return false;
    if (m[3] && !el.classList.contains(m[3])) return false;
    if (m[4]) {
      const want = m[5] ?? m[6] ?? m[7];
      if (!el.hasAttribute(m[4]) || (want !== undefined && el.getAttribute(m[4]) !== want)) return false;
    }
  }
  if (used !== part.length) throw new Error('dom-fake: unsupported selector ' + part);
  return true;
};
/** `el` matches `sel` (a, b / descendant "x y"), looking for ancestors no higher than `scope`. */
const matches = (el, sel, scope) => sel.split(',').some((s) => {
  const parts = s.trim().split(/\s+/);
  if (!compound(el, parts.pop())) return false;
  let n = el.parentNode;
  while (parts.length) {
    while (n && n !== scope && !(n instanceof Element && !(n instanceof ShadowRoot) && compound(n, parts[parts.length - 1]))) n = n.parentNode;
    if (!n || n === scope) return false;
    parts.pop(); n = n.parentNode;
  }
  return true;
});

class Document extends Element {
  constructor() {
    super('#document', null);
    this.ownerDocument = this;
    this.focused = null;
    this.body = new Element('body', this);
  }
  get activeElement() { return this.focused; }
  get hidden() { return false; }
  set hidden(v) {}
  createElement(tag) { return new Element(tag, this); }
  createElementNS(ns, tag) { return new Element(tag, this); }
}

/** Fresh document/window globals; `storage` is localStorage (pass the same one again = a reload). */
export const installDom = ({ storage = new MemoryStorage() } = {}) => {
  const doc = new Document();
  const win = new Element('#window', doc);
  Object.assign(win, {
    localStorage: storage, sessionStorage: new MemoryStorage(),
    setTimeout: (...a) => setTimeout(...a), clearTimeout: (id) => clearTimeout(id),
    setInterval: (...a) => setInterval(...a), clearInterval: (id) => clearInterval(id),
  });
  Object.assign(globalThis, {
    document: doc, window: win, localStorage: storage, sessionStorage: win.sessionStorage,
    requestAnimationFrame: (fn) => setTimeout(fn, 16), cancelAnimationFrame: (id) => clearTimeout(id),
  });
  return { doc, win };
};

/**
 * The widget booted on a fake page, its socket opened (not yet welcomed). Call inside a test that
 * enabled t.mock.timers. `open`: the panel is open (the visitor clicked the launcher).
 */
export const mountWidget = ({ storage, ds = {}, open = true } = {}) => {
  const { doc, win } = installDom({ storage });
  const ws = socketFactory();
  win.WebSocket = ws.FakeSocket;
  const { api, boot } = createWidget({ key: 'pk_test', ds, wsUrl: 'ws://chat.test/ws/chat/pk_test/', queued: [] });
  boot();
  if (open) api.open(false);
  const root = doc.body.children[0].shadowRoot;
  return {
    api, ws, doc, root,
    sock: ws.last().open(),
    $: (sel) => root.querySelector(sel),
    $$: (sel) => root.querySelectorAll(sel),
    focused: () => doc.focused,
  };
};

/** Type `value` into an input/textarea as a visitor would (value + an input event). */
export const type = (el, value) => { el.value = value; el.dispatchEvent({ type: 'input' }); };
/** Submit a form as the browser does once its constraints hold (Enter in a field, or the button). */
export const submit = (form) => form.dispatchEvent({ type: 'submit' });
