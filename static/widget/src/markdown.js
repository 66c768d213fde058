// The safe Markdown renderer. Model output is untrusted: everything is text unless it matches one of
// these rules, and nodes are only built with createElement/textContent (no innerHTML anywhere).
import { h } from './dom.js';

/** An absolute http(s)/mailto URL, normalized, or null. */
export const safeUrl = (u) => {
  try { const x = new URL(String(u)); return /^(https?|mailto):$/.test(x.protocol) ? x.href : null; } catch (e) { return null; }
};
export const link = (href, text) => h('a', { href, target: '_blank', rel: 'noopener noreferrer', text });

const LIST = /^\s*([-*+•]|\d{1,9}[.)])\s+(.*)$/;
const INL = /`([^`]+)`|\*\*(?=\S)(.*?\S)\*\*|\*(?=[^\s*])(.*?[^\s*])\*|\[([^[\]]+)\]\(\s*<?((?:[^()\s<>]|\([^()\s<>]*\))+)>?\s*\)|((?:https?:\/\/|mailto:)[\w\-.~:/?#[\]@!$&'()*+,;=%]+)/;
const inline = (s, el, noLink) => {
  while (s) {
    const m = INL.exec(s);
    if (!m) { el.append(s); return; }
    if (m.index) el.append(s.slice(0, m.index));
    let used = m[0];
    if (m[1] != null) el.append(h('code', { text: m[1] }));
    else if (m[2] != null) inline(m[2], el.appendChild(h('strong')), noLink);
    else if (m[3] != null) inline(m[3], el.appendChild(h('em')), noLink);
    else if (m[4] != null) {
      const u = !noLink && safeUrl(m[5]);
      if (u) inline(m[4], el.appendChild(link(u)), true); else el.append(used);
    } else {
      used = m[6].replace(/[.,;:!?'"]+$/, '');
      if (used.endsWith(')') && !used.includes('(')) used = used.slice(0, -1);
      const u = !noLink && safeUrl(used);
      el.append(u ? link(u, used) : used);
    }
    s = s.slice(m.index + used.length);
  }
};
export const md = (src, out) => {
  const lines = String(src == null ? '' : src).replace(/\r\n?/g, '\n').split('\n');
  let para = [], i = 0, m;
  const flush = () => {
    if (!para.length) return;
    const p = h('p');
    para.forEach((l, j) => { if (j) p.append(h('br')); inline(l, p); });
    out.append(p); para = [];
  };
  while (i < lines.length) {
    const l = lines[i];
    if ((m = /^\s*(`{3,}|~{3,})\s*([\w+#.-]*)/.exec(l))) {
      flush();
      const buf = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(m[1]); i++) buf.push(lines[i]);
      i++;
      out.append(h('pre', { tabindex: '0' }, h('code', { text: buf.join('\n') })));
    } else if ((m = LIST.exec(l))) {
      flush();
      const ord = /\d/.test(m[1]), list = h(ord ? 'ol' : 'ul');
      if (ord && parseInt(m[1], 10) !== 1) list.start = parseInt(m[1], 10);
      while (i < lines.length && (m = LIST.exec(lines[i])) && /\d/.test(m[1]) === ord) {
        const li = list.appendChild(h('li'));
        inline(m[2], li);
        for (i++; i < lines.length && /^\s{2,}\S/.test(lines[i]) && !LIST.test(lines[i]); i++) { li.append(h('br')); inline(lines[i].trim(), li); }
      }
      out.append(list);
    } else if ((m = /^\s{0,3}#{1,6}\s+(.*)$/.exec(l))) {
      flush(); inline(m[1], out.appendChild(h('p')).appendChild(h('strong'))); i++;
    } else if (!l.trim()) { flush(); i++; } else { para.push(l); i++; }
  }
  flush();
  return out;
};
