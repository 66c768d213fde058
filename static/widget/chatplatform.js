/*! chatplatform widget v1 (WebSocket protocol v1) - docs/widget.md
 * Built from static/widget/src/ by `npm run build:widget`: edit the sources, not this file. */
"use strict";
(() => {
  // static/widget/src/strings.js
  var STR = {
    en: {
      open: 'Open chat', close: 'Close chat', unread: '{n} unread', title: 'Chat', send: 'Send',
      placeholder: 'Write a message…', menu: 'More options', newConv: 'New conversation', endChat: 'End chat',
      online: 'Online', connecting: 'Connecting…', offline: 'Offline, reconnecting…', sending: 'Sending…',
      failed: 'Not sent.', retry: 'Retry', typing: '{name} is typing…', you: 'You', bot: 'Assistant',
      up: 'Helpful', down: 'Not helpful', sources: 'Sources', dismiss: 'Dismiss',
      csatQ: 'How would you rate this conversation?', star: '{n} of 5 stars', csatThanks: 'Thanks for your feedback!',
      rate_limited: "You're sending messages too fast. Please wait a moment.",
      message_too_long: 'That message is too long. Please shorten it.',
      too_large: 'That message is too long. Please shorten it.',
      reply_failed: "Sorry, I couldn't answer that. Please try again.",
      identity_required: 'Please sign in to chat.', unavailable: 'Chat is not available right now.',
      retrying: 'Reconnecting…', busy: 'Chat is busy right now. Your message will be sent in a moment.',
      generic: 'Something went wrong. Please try again.',
      agent: 'Support agent', team: 'The team',
      hQueued: "You're in line{wait}.", hQueuedAt: "You're number {position} in line{wait}.", hWait: ' (about {n} min)',
      hAssigned: '{name} joined the chat.', hBot: "You're back with the assistant.",
      hResolved: '{name} closed this chat. Send a message to start again.',
      hOffline: "No one is available right now. Leave a message and we'll reply by e-mail.",
      tkTitle: 'Leave a message', tkName: 'Name', tkEmail: 'E-mail', tkMsg: 'Message',
      tkThanks: "Thanks — we'll get back to you by e-mail.",
    },
    'zh-hans': {
      open: '打开聊天', close: '关闭聊天', unread: '{n} 条未读', title: '在线客服', send: '发送',
      placeholder: '输入消息…', menu: '更多选项', newConv: '新对话', endChat: '结束对话',
      online: '在线', connecting: '正在连接…', offline: '已离线，正在重新连接…', sending: '发送中…',
      failed: '发送失败。', retry: '重试', typing: '{name} 正在输入…', you: '你', bot: '助手',
      up: '有帮助', down: '没有帮助', sources: '来源', dismiss: '关闭提示',
      csatQ: '你对本次对话满意吗？', star: '{n} 星（满分 5 星）', csatThanks: '感谢你的反馈！',
      rate_limited: '发送太快了，请稍等片刻。', message_too_long: '消息太长，请缩短后再发送。',
      too_large: '消息太长，请缩短后再发送。', reply_failed: '抱歉，暂时无法回答，请重试。',
      identity_required: '请先登录再聊天。', unavailable: '聊天服务暂不可用。', generic: '出了点问题，请重试。',
      retrying: '正在重新连接…', busy: '聊天服务繁忙，消息稍后会自动发送。',
      agent: '人工客服', team: '客服团队',
      hQueued: '你正在排队{wait}。', hQueuedAt: '你排在第 {position} 位{wait}。', hWait: '（预计约 {n} 分钟）',
      hAssigned: '{name} 已加入对话。', hBot: '已回到智能助手。',
      hResolved: '{name} 已结束本次对话。发送消息即可重新开始。',
      hOffline: '现在没有客服在线，请留言，我们会通过邮件回复你。',
      tkTitle: '留言', tkName: '姓名', tkEmail: '电子邮件', tkMsg: '内容',
      tkThanks: '谢谢！我们会通过邮件回复你。',
    },
  };
  var pickLang = (l, nav = globalThis.navigator) => {
    l = String(l || "").toLowerCase();
    if (!l || l === "auto") l = String(nav && nav.languages && nav.languages[0] || nav && nav.language || "en").toLowerCase();
    return l.startsWith("zh") ? "zh-hans" : "en";
  };
  var translate = (lang, k, vars) => {
    let s = STR[lang] && STR[lang][k] || STR.en[k] || k;
    for (const v in vars || {}) s = s.replace("{" + v + "}", () => vars[v]);
    return s;
  };

  // static/widget/src/dom.js
  var NS = "http://www.w3.org/2000/svg";
  var h = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const k in attrs) {
      const v = attrs[k];
      if (v == null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of kids) if (c != null) e.append(c);
    return e;
  };
  var I = {
    chat: "M20 2H4a2 2 0 0 0-2 2v18l4-4h14a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2zM7 9h10v2H7zm0-3h10v2H7zm0 6h7v2H7z",
    down: "M16.59 8.59 12 13.17 7.41 8.59 6 10l6 6 6-6z",
    x: "M19 6.41 17.59 5 12 10.59 6.41 5 5 6.41 10.59 12 5 17.59 6.41 19 12 13.41 17.59 19 19 17.59 13.41 12z",
    send: "M3.4 20.4 20.85 12.92a1 1 0 0 0 0-1.84L3.4 3.6a.99.99 0 0 0-1.39.91L2 9.12c0 .5.37.93.87.99L17 12 2.87 13.88c-.5.07-.87.5-.87 1l.01 4.61c0 .71.73 1.2 1.39.91z",
    more: "M12 8a2 2 0 1 0 0-4 2 2 0 0 0 0 4zm0 2a2 2 0 1 0 0 4 2 2 0 0 0 0-4zm0 6a2 2 0 1 0 0 4 2 2 0 0 0 0-4z",
    up: "M1 21h4V9H1v12zm22-11a2 2 0 0 0-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10a2 2 0 0 0 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z",
    dn: "M15 3H6c-.83 0-1.54.5-1.84 1.22l-3.02 7.05c-.09.23-.14.47-.14.73v2a2 2 0 0 0 2 2h6.31l-.95 4.57-.03.32c0 .41.17.79.44 1.06L9.83 23l6.59-6.59c.36-.36.58-.86.58-1.41V5a2 2 0 0 0-2-2zm4 0v12h4V3h-4z",
    star: "M12 17.27 18.18 21l-1.64-7.03L22 9.24l-7.19-.61L12 2 9.19 8.63 2 9.24l5.46 4.73L5.82 21z",
    plus: "M17.65 6.35A7.96 7.96 0 0 0 12 4a8 8 0 1 0 7.73 10h-2.08A6 6 0 1 1 12 6c1.66 0 3.14.69 4.22 1.78L13 11h7V4l-2.35 2.35z",
    end: "M9 16.17 4.83 12l-1.42 1.41L9 19 21 7l-1.41-1.41z"
  };
  var icon = (name, cls) => {
    const s = document.createElementNS(NS, "svg"), p = document.createElementNS(NS, "path");
    if (cls) s.setAttribute("class", cls);
    s.setAttribute("viewBox", "0 0 24 24");
    s.setAttribute("aria-hidden", "true");
    s.setAttribute("focusable", "false");
    p.setAttribute("d", I[name]);
    p.setAttribute("fill", "currentColor");
    s.append(p);
    return s;
  };

  // static/widget/src/markdown.js
  var safeUrl = (u) => {
    try {
      const x = new URL(String(u));
      return /^(https?|mailto):$/.test(x.protocol) ? x.href : null;
    } catch (e) {
      return null;
    }
  };
  var link = (href, text) => h("a", { href, target: "_blank", rel: "noopener noreferrer", text });
  var LIST = /^\s*([-*+•]|\d{1,9}[.)])\s+(.*)$/;
  var INL = /`([^`]+)`|\*\*(?=\S)(.*?\S)\*\*|\*(?=[^\s*])(.*?[^\s*])\*|\[([^[\]]+)\]\(\s*<?((?:[^()\s<>]|\([^()\s<>]*\))+)>?\s*\)|((?:https?:\/\/|mailto:)[\w\-.~:/?#[\]@!$&'()*+,;=%]+)/;
  var inline = (s, el, noLink) => {
    while (s) {
      const m = INL.exec(s);
      if (!m) {
        el.append(s);
        return;
      }
      if (m.index) el.append(s.slice(0, m.index));
      let used = m[0];
      if (m[1] != null) el.append(h("code", { text: m[1] }));
      else if (m[2] != null) inline(m[2], el.appendChild(h("strong")), noLink);
      else if (m[3] != null) inline(m[3], el.appendChild(h("em")), noLink);
      else if (m[4] != null) {
        const u = !noLink && safeUrl(m[5]);
        if (u) inline(m[4], el.appendChild(link(u)), true);
        else el.append(used);
      } else {
        used = m[6].replace(/[.,;:!?'"]+$/, "");
        if (used.endsWith(")") && !used.includes("(")) used = used.slice(0, -1);
        const u = !noLink && safeUrl(used);
        el.append(u ? link(u, used) : used);
      }
      s = s.slice(m.index + used.length);
    }
  };
  var md = (src, out) => {
    const lines = String(src == null ? "" : src).replace(/\r\n?/g, "\n").split("\n");
    let para = [], i = 0, m;
    const flush = () => {
      if (!para.length) return;
      const p = h("p");
      para.forEach((l, j) => {
        if (j) p.append(h("br"));
        inline(l, p);
      });
      out.append(p);
      para = [];
    };
    while (i < lines.length) {
      const l = lines[i];
      if (m = /^\s*(`{3,}|~{3,})\s*([\w+#.-]*)/.exec(l)) {
        flush();
        const buf = [];
        for (i++; i < lines.length && !lines[i].trim().startsWith(m[1]); i++) buf.push(lines[i]);
        i++;
        out.append(h("pre", { tabindex: "0" }, h("code", { text: buf.join("\n") })));
      } else if (m = LIST.exec(l)) {
        flush();
        const ord = /\d/.test(m[1]), list = h(ord ? "ol" : "ul");
        if (ord && parseInt(m[1], 10) !== 1) list.start = parseInt(m[1], 10);
        while (i < lines.length && (m = LIST.exec(lines[i])) && /\d/.test(m[1]) === ord) {
          const li = list.appendChild(h("li"));
          inline(m[2], li);
          for (i++; i < lines.length && /^\s{2,}\S/.test(lines[i]) && !LIST.test(lines[i]); i++) {
            li.append(h("br"));
            inline(lines[i].trim(), li);
          }
        }
        out.append(list);
      } else if (m = /^\s{0,3}#{1,6}\s+(.*)$/.exec(l)) {
        flush();
        inline(m[1], out.appendChild(h("p")).appendChild(h("strong")));
        i++;
      } else if (!l.trim()) {
        flush();
        i++;
      } else {
        para.push(l);
        i++;
      }
    }
    flush();
    return out;
  };

  // static/widget/src/theme.js
  var rgbOf = (c) => {
    const m = /^#?([0-9a-f]{6}|[0-9a-f]{3})$/i.exec(String(c || "").trim());
    if (!m) return null;
    const s = m[1].length === 3 ? m[1].replace(/./g, "$&$&") : m[1];
    return [0, 2, 4].map((i) => parseInt(s.substr(i, 2), 16));
  };
  var lum = (rgb) => rgb.map((v) => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  }).reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
  var ratio = (a, b) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  var hex = (rgb) => "#" + rgb.map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
  var DARK = [17, 24, 39];
  var DEFAULT_RGB = [37, 99, 235];
  var themeColors = (color) => {
    const rgb = rgbOf(color) || DEFAULT_RGB, L = lum(rgb);
    const fg = ratio(L, 1) >= ratio(L, lum(DARK)) ? "#ffffff" : hex(DARK);
    let acc = rgb;
    while (ratio(lum(acc), 1) < 4.5) acc = acc.map((v) => v * 0.9);
    return { c: hex(rgb), fg, acc: hex(acc) };
  };
  var applyTheme = (el, color) => {
    const { c, fg, acc } = themeColors(color), st = el.style;
    st.setProperty("--c", c);
    st.setProperty("--fg", fg);
    st.setProperty("--acc", acc);
  };

  // static/widget/src/styles.js
  var CSS = `
:host{all:initial}
*,*::before,*::after{box-sizing:border-box}
[hidden]{display:none!important}
.root{--c:#2563eb;--fg:#fff;--acc:#2563eb;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"PingFang SC","Hiragino Sans GB","Microsoft YaHei","Noto Sans CJK SC",sans-serif;color:#1f2937;-webkit-font-smoothing:antialiased;text-align:left}
button{font:inherit;color:inherit;cursor:pointer}
:focus-visible{outline:2px solid var(--acc);outline-offset:2px}
.sr{position:absolute!important;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.launcher{position:fixed;bottom:20px;right:20px;width:60px;height:60px;border-radius:50%;border:0;background:var(--c);color:var(--fg);box-shadow:0 6px 20px rgba(0,0,0,.2),0 2px 6px rgba(0,0,0,.12);display:grid;place-items:center;z-index:2147483646;transition:transform .18s ease,box-shadow .18s ease}
.launcher:hover{transform:scale(1.06);box-shadow:0 8px 26px rgba(0,0,0,.24)}
.launcher:focus-visible{outline:3px solid var(--acc);outline-offset:3px}
.launcher svg{width:28px;height:28px}.launcher .i2{width:32px;height:32px}
.launcher .i2,.open .launcher .i1{display:none}.open .launcher .i2{display:block;animation:spin .2s ease-out}
@keyframes spin{from{transform:rotate(-90deg);opacity:0}}
.left .launcher{right:auto;left:20px}
.badge{position:absolute;top:-3px;right:-3px;min-width:22px;height:22px;padding:0 6px;border-radius:11px;background:#dc2626;color:#fff;font-size:12px;font-weight:700;line-height:22px;text-align:center;box-shadow:0 0 0 2px #fff}
.panel{position:fixed;bottom:96px;right:20px;width:384px;height:min(680px,calc(100vh - 120px));background:#fff;border-radius:18px;box-shadow:0 16px 56px rgba(0,0,0,.2),0 3px 10px rgba(0,0,0,.08);display:flex;flex-direction:column;overflow:hidden;z-index:2147483647;transform-origin:bottom right;animation:pin .22s cubic-bezier(.2,.8,.3,1)}
.left .panel{right:auto;left:20px;transform-origin:bottom left}
@keyframes pin{from{opacity:0;transform:translateY(16px) scale(.97)}}
.hd{background:var(--c);color:var(--fg);padding:14px 8px 14px 16px;display:flex;align-items:center;gap:12px;flex:none;position:relative}
.hd :focus-visible{outline-color:currentColor}
.hd .av{width:40px;height:40px;font-size:17px;box-shadow:0 0 0 2px rgba(255,255,255,.55)}
.av{width:28px;height:28px;border-radius:50%;flex:none;background:var(--c);color:var(--fg);display:grid;place-items:center;font-weight:600;font-size:13px;overflow:hidden;user-select:none}
.av img{width:100%;height:100%;object-fit:cover;background:#fff}
.ttl{flex:1;min-width:0}
.ttl h2{margin:0;font-size:16px;font-weight:650;line-height:1.3;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.st{font-size:12.5px;display:flex;align-items:center;gap:6px;line-height:1.4}
.dot{width:8px;height:8px;border-radius:50%;background:#22c55e;box-shadow:0 0 0 1.5px rgba(255,255,255,.8);flex:none}
.st[data-state=offline] .dot{background:#f59e0b}.st[data-state=connecting] .dot{background:#cbd5e1}
.ib{background:transparent;border:0;width:38px;height:38px;border-radius:10px;display:grid;place-items:center;flex:none}
.ib:hover{background:rgba(127,127,127,.22)}
.ib svg{width:22px;height:22px}
.menu{position:absolute;top:60px;right:10px;background:#fff;color:#1f2937;border-radius:12px;box-shadow:0 10px 30px rgba(0,0,0,.18),0 0 0 1px rgba(0,0,0,.05);padding:6px;min-width:210px;z-index:3}
.menu button{display:flex;gap:10px;align-items:center;width:100%;padding:9px 10px;border:0;background:none;border-radius:8px;text-align:left}
.menu button:hover,.menu button:focus{background:#f3f4f6;outline:none}
.menu svg{width:18px;height:18px;color:#4b5563}
.scroll{flex:1;overflow-y:auto;padding:14px 14px 10px;background:#f8fafc;overscroll-behavior:contain;}
.row{display:flex;gap:8px;align-items:flex-end;margin-top:12px}
.row:first-child{margin-top:0}
.row.user{justify-content:flex-end}
.row.bot+.row.bot,.row.user+.row.user{margin-top:4px}
.row.bot+.row.bot .av{visibility:hidden}
.agent>.av{grid-area:2/1;visibility:visible!important}.nm,.typing .who{font-size:12px;color:#475569;margin:0 4px 2px}
.row.bot{display:grid;grid-template-columns:28px minmax(0,1fr);column-gap:8px}
.row.bot>.av{grid-area:1/1}.bot .col{display:contents}.bot .col>*,.row.bot>.bub{grid-column:2;justify-self:start;max-width:92%}
.col{display:flex;flex-direction:column;min-width:0;max-width:82%}
.user .col{align-items:flex-end}
.bub{padding:9px 13px;border-radius:18px;overflow-wrap:anywhere;word-break:break-word;max-width:100%}
.bot .bub{background:#fff;color:#111827;border:1px solid #e5e7eb;border-bottom-left-radius:6px;box-shadow:0 1px 2px rgba(0,0,0,.04)}
.user .bub{background:var(--c);color:var(--fg);border-bottom-right-radius:6px;white-space:pre-wrap}
.user .bub[data-state=failed]{background:#fff;color:#991b1b;border:1px solid #fca5a5}
.bub p{margin:0 0 8px}.bub>:last-child{margin-bottom:0}
.bub ul,.bub ol{margin:4px 0 8px;padding-left:22px}.bub li{margin:2px 0}
.bub code{font:12.5px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f1f5f9;border-radius:5px;padding:1px 5px}
.bub pre{margin:6px 0 8px;background:#0f172a;color:#e2e8f0;border-radius:10px;padding:10px 12px;overflow-x:auto;white-space:pre}
.bub pre code{background:none;padding:0;color:inherit}
.bub a{color:inherit;text-decoration:underline;text-underline-offset:2px}
.bot .bub a{color:var(--acc)}
.stream:empty{min-height:40px;min-width:48px}.stream:empty::after,.stream>p:last-child::after,.stream>:is(ul,ol):last-child>li:last-child::after{content:"";display:inline-block;width:7px;height:15px;margin-left:3px;vertical-align:-2px;background:#9ca3af;border-radius:1px;animation:blink 1s steps(2) infinite}
@keyframes blink{50%{opacity:0}}
.meta{display:flex;align-items:center;gap:2px;margin-top:2px;font-size:11.5px;color:#64748b;min-height:18px;padding:0 4px}
.meta .tm{margin-right:4px}.meta:empty{display:none}
.meta .bad{color:#b91c1c}
.meta .lnk{border:0;background:none;color:#b91c1c;text-decoration:underline;padding:0 2px;font-size:inherit}
.fb{border:0;background:none;width:24px;height:24px;border-radius:7px;display:grid;place-items:center;color:#64748b;padding:0}
.fb svg{width:15px;height:15px}
.fb:hover{background:#eef2f7;color:#334155}
.fb[aria-pressed=true]{color:var(--acc);background:#eef2f7}
.cites{margin-top:6px;font-size:12.5px;display:flex;flex-wrap:wrap;gap:6px;align-items:center;color:#475569}
.cites a,.cites span.c{display:inline-block;max-width:220px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;background:#fff;border:1px solid #e2e8f0;border-radius:999px;padding:2px 10px;color:var(--acc);text-decoration:none}
.cites span.c{color:#475569}
.typing .bub{display:flex;gap:4px;align-items:center;padding:13px 14px}
.typing i{width:7px;height:7px;border-radius:50%;background:#94a3b8;animation:bob 1.2s infinite ease-in-out}
.typing .who{grid-area:2/2}
.typing i:nth-child(2){animation-delay:.15s}.typing i:nth-child(3){animation-delay:.3s}
@keyframes bob{0%,60%,100%{transform:none;opacity:.6}30%{transform:translateY(-4px);opacity:1}}
.qr{display:flex;flex-wrap:wrap;justify-content:flex-end;gap:6px;margin-top:10px;padding-left:36px}
.qr button{border:1.5px solid var(--acc);color:var(--acc);background:#fff;border-radius:999px;padding:6px 14px;font-weight:550;line-height:1.3;transition:background .12s}
.qr button:hover{background:var(--c);color:var(--fg);border-color:var(--c)}
.csat{margin:16px 6px 4px;padding:16px;background:#fff;border:1px solid #e5e7eb;border-radius:14px;text-align:center;box-shadow:0 1px 3px rgba(0,0,0,.05)}
.csat p{margin:0 0 8px;font-weight:600;color:#111827}
.stars{display:inline-flex;gap:2px}
.stars button{border:0;background:none;width:38px;height:38px;border-radius:8px;color:#64748b;display:grid;place-items:center;padding:0}
.stars svg{width:30px;height:30px;transition:transform .12s}
.stars button.hl{color:#d97706}.stars button:hover svg{transform:scale(1.12)}
.nb{margin-top:10px;border:0;background:var(--c);color:var(--fg);border-radius:999px;padding:7px 16px;font-weight:600}
.hn{margin:12px auto 0;max-width:90%;text-align:center;font-size:12.5px;color:#475569}
.tk{text-align:left}.tk .bad{color:#b91c1c}
.tk label{display:block;margin-top:8px;font-size:12.5px}
.tk input,.tk textarea{display:block;width:100%;height:auto;margin-top:3px;border:1px solid #6b7280;border-radius:8px;padding:7px 10px;font:inherit}
.notice{display:flex;gap:8px;align-items:flex-start;margin:0 12px 8px;padding:8px 6px 8px 12px;background:#fef2f2;color:#991b1b;border:1px solid #fecaca;border-radius:10px;font-size:13px}
.notice span{flex:1;padding-top:2px}
.notice button{border:0;background:none;color:inherit;width:24px;height:24px;border-radius:6px;display:grid;place-items:center;padding:0}
.notice svg{width:16px;height:16px}
.comp{display:flex;align-items:flex-end;gap:8px;padding:10px 12px 12px;background:#fff;border-top:1px solid #eef0f3;flex:none}
textarea{flex:1;resize:none;border:1px solid #d1d5db;border-radius:22px;padding:10px 16px;font:inherit;line-height:20px;color:#111827;background:#fff;height:42px;max-height:132px;min-height:42px;outline:none;overflow-y:auto}
textarea::placeholder{color:#6b7280}
textarea:focus{border-color:var(--acc);box-shadow:0 0 0 1px var(--acc);outline:none}
.send{width:42px;height:42px;border-radius:50%;border:0;background:var(--c);color:var(--fg);display:grid;place-items:center;flex:none;transition:opacity .15s,transform .15s}
.send:disabled{opacity:.4;cursor:default}
.send:not(:disabled):hover{transform:scale(1.05)}
.send svg{width:20px;height:20px}
@media (max-width:480px){.panel,.left .panel{inset:0;width:auto;height:auto;border-radius:0;animation:none}.open .launcher{display:none}.hd{padding-top:max(14px,env(safe-area-inset-top))}.comp{padding-bottom:max(12px,env(safe-area-inset-bottom))}}
@media (prefers-reduced-motion:reduce){*,*::before,*::after{animation:none!important;transition:none!important;scroll-behavior:auto!important}}
@media print{.root{display:none}}`;

  // static/widget/src/store.js
  var storageKey = (key) => "chatplatform:" + key;
  var createStore = (key, { local = null, session = null } = {}) => {
    const LSK = storageKey(key), SSK = LSK + ":open";
    let mem = {};
    const load = () => {
      try {
        const v = local.getItem(LSK);
        if (v) return JSON.parse(v) || {};
      } catch (e) {
      }
      return Object.assign({}, mem);
    };
    const save = (patch) => {
      mem = Object.assign(load(), patch);
      try {
        local.setItem(LSK, JSON.stringify(mem));
      } catch (e) {
      }
    };
    const sGet = () => {
      try {
        return session.getItem(SSK);
      } catch (e) {
        return null;
      }
    };
    const sSet = (v) => {
      try {
        session.setItem(SSK, v);
      } catch (e) {
      }
    };
    return { key: LSK, load, save, sGet, sSet };
  };
  var webStorage = (name) => {
    try {
      return globalThis[name];
    } catch (e) {
      return null;
    }
  };
  var uuid = (c = globalThis.crypto) => c.randomUUID ? c.randomUUID() : Array.from(c.getRandomValues(new Uint8Array(16)), (b, i) => (i === 6 ? b & 15 | 64 : i === 8 ? b & 63 | 128 : b).toString(16).padStart(2, "0")).join("").replace(/^(.{8})(.{4})(.{4})(.{4})/, "$1-$2-$3-$4-");

  // static/widget/src/protocol.js
  var PROTOCOL_VERSION = 2;
  var CLOSE = Object.freeze({ REFUSED: 4403, POLICY: 1008, TOO_LARGE: 1009 });
  var CLIENT_CLOSE = 4e3;
  var PING_MS = 25e3;
  var DEAD_MS = 65e3;
  var STALL_MS = 2e4;
  var BACKOFF_BASE_MS = 500;
  var BACKOFF_CAP_MS = 15e3;
  var REFUSED_CAP_MS = 6e4;
  var REFUSED_AFTER = 7;
  var POLICY_WAIT_MS = 6e4;
  var MAX_ATTEMPT = 10;
  var RETRY_DEFAULT_MS = 3e3;
  var RETRY_JITTER_MS = 1e3;
  var backoff = (attempt, everOpened, rnd) => {
    const cap = !everOpened && attempt >= REFUSED_AFTER ? REFUSED_CAP_MS : BACKOFF_CAP_MS;
    return Math.min(cap, BACKOFF_BASE_MS * 2 ** attempt) * (0.5 + rnd * 0.5);
  };
  var retryDelay = (retryAfter, attempt, rnd) => Math.max(retryAfter >= 1 ? retryAfter * 1e3 : RETRY_DEFAULT_MS, backoff(attempt, true, 1)) + rnd * RETRY_JITTER_MS;

  // static/widget/src/client.js
  var createClient = ({
    url,
    WebSocket: WS = globalThis.WebSocket,
    store,
    timers = globalThis,
    now = Date.now,
    random = Math.random,
    uuid: uuid2,
    locale = () => "en",
    hooks = {},
    onError = (err) => console.error("[chatplatform]", err)
  }) => {
    const on = (name, ...args) => {
      const f = hooks[name];
      return f ? f(...args) : void 0;
    };
    let ws = null, welcomed = false, attempt = 0, retryT = 0, pingT = 0, lastFrame = 0, stopped = false;
    let gen = 0, started = false, everOpened = false, holdUntil = 0, holdT = 0, resumeFrom = -1;
    let helloAt = 0, helloT = 0, busy = false;
    let replyAt = 0;
    let identity = null, conv = null, maxSeq = 0, csatOut = null;
    let handoff = null, ticketOut = null;
    const seen = /* @__PURE__ */ new Map();
    const seenSeq = /* @__PURE__ */ new Set();
    const pending = /* @__PURE__ */ new Map();
    const fbOut = /* @__PURE__ */ new Map();
    const live = () => !!(ws && ws.readyState === 1 && welcomed);
    const raw = (f) => {
      if (ws && ws.readyState === 1) {
        try {
          ws.send(JSON.stringify(f));
          return true;
        } catch (e) {
        }
      }
      return false;
    };
    const connect = () => {
      timers.clearTimeout(retryT);
      if (ws || stopped) return;
      const wait = helloAt - now();
      if (wait > 0) {
        retryT = timers.setTimeout(connect, wait);
        return;
      }
      let sock;
      try {
        sock = new WS(url);
      } catch (e) {
        schedule();
        return;
      }
      ws = sock;
      welcomed = false;
      gen++;
      if (!attempt) on("status", "connecting");
      sock.onopen = () => {
        lastFrame = now();
        everOpened = true;
        hello();
        timers.clearInterval(pingT);
        pingT = timers.setInterval(() => {
          if (now() - lastFrame > DEAD_MS) {
            drop();
            schedule();
            return;
          }
          raw({ type: "ping" });
          if (replyAt && now() - replyAt > STALL_MS) {
            replyAt = now();
            raw({ type: "resume", last_seq: maxSeq });
          }
        }, PING_MS);
      };
      sock.onmessage = (e) => {
        if (ws !== sock) return;
        lastFrame = now();
        let f;
        try {
          f = JSON.parse(e.data);
        } catch (err) {
          return;
        }
        if (f && typeof f === "object") {
          try {
            handle(f);
          } catch (err) {
            onError(err);
          }
        }
      };
      sock.onclose = (e) => {
        if (ws !== sock) return;
        drop();
        if (e.code === CLOSE.REFUSED) {
          stopped = true;
          on("notice", "unavailable", 0);
          return;
        }
        schedule(e.code === CLOSE.POLICY ? POLICY_WAIT_MS : 0);
      };
    };
    const hello = () => {
      const st = store.load(), f = { type: "hello", v: PROTOCOL_VERSION, last_seq: maxSeq, locale: locale() };
      if (st.token) f.visitor_token = st.token;
      if (identity) {
        f.user_id = identity.userId;
        f.user_hash = identity.userHash;
        if (identity.expires != null) f.user_hash_expires = identity.expires;
      }
      raw(f);
    };
    const retryHello = (f) => {
      const d = retryDelay(+f.retry_after, attempt, random());
      attempt = Math.min(attempt + 1, MAX_ATTEMPT);
      helloAt = now() + d;
      on("status", "connecting", "retrying");
      timers.clearTimeout(helloT);
      helloT = timers.setTimeout(() => {
        if (ws && !welcomed) hello();
      }, d);
    };
    const drop = () => {
      const sock = ws;
      ws = null;
      welcomed = false;
      timers.clearInterval(pingT);
      timers.clearTimeout(helloT);
      if (sock) {
        sock.onclose = sock.onmessage = sock.onopen = null;
        try {
          sock.close(CLIENT_CLOSE);
        } catch (e) {
        }
      }
      on("dropped");
      if (!stopped) on("status", "offline");
      on("refresh");
    };
    const schedule = (min) => {
      if (stopped) return;
      timers.clearTimeout(retryT);
      const d = Math.max(min || 0, backoff(attempt, everOpened, random()));
      attempt = Math.min(attempt + 1, MAX_ATTEMPT);
      retryT = timers.setTimeout(connect, d);
    };
    const reconnectNow = () => {
      drop();
      attempt = 0;
      connect();
    };
    const handle = (f) => {
      switch (f.type) {
        case "welcome":
          return onWelcome(f);
        case "message":
          return onMessage(f);
        case "ack":
          return onAck(f);
        case "delta":
          return on("delta", f);
        case "typing":
          if (f.role !== "user") on("typing", !!f.on, f.role === "agent" ? f.author || {} : null);
          return;
        case "handoff":
          replyAt = 0;
          return onHandoff(f);
        case "offline_ticket_ack":
          if (ticketOut && String(f.client_id) === ticketOut.client_id) {
            ticketOut = null;
            store.save({ ticket: true });
            on("ticketSent");
          }
          return;
        case "feedback_ack":
          fbOut.delete(f.message_id);
          fbOut.delete(String(f.message_id));
          return;
        case "csat_ack":
          csatOut = null;
          return;
        case "error":
          return onErrorFrame(f);
        default:
      }
    };
    const onWelcome = (f) => {
      const st = store.load();
      if (f.conversation_id != null && st.conv != null && String(f.conversation_id) !== String(st.conv)) clear(true);
      conv = f.conversation_id == null ? null : f.conversation_id;
      store.save({ token: f.visitor_token || st.token || null, conv, uid: identity ? identity.userId : null });
      on("bot", f.bot || st.bot);
      welcomed = true;
      attempt = 0;
      resumeFrom = -1;
      busy = false;
      on("status", "online");
      for (const m of Array.isArray(f.messages) ? f.messages : []) onMessage(m);
      if (+f.last_seq > maxSeq) {
        resumeFrom = maxSeq;
        raw({ type: "resume", last_seq: maxSeq });
      }
      flush();
      for (const [message_id, rating] of fbOut) raw({ type: "feedback", message_id, rating });
      if (csatOut) raw(Object.assign({ type: "csat" }, csatOut));
      if (ticketOut) raw(ticketOut);
      if (f.handoff) onHandoff(f.handoff);
      on("welcomed", conv);
    };
    const onMessage = (m) => {
      if (!m || typeof m !== "object" || m.id == null && m.seq == null) return;
      const id = m.id == null ? null : String(m.id), seq = m.seq == null ? null : +m.seq;
      if (id && seen.has(id) || seq != null && seenSeq.has(seq)) return;
      gapCheck(seq);
      if (m.role !== "user") replyAt = 0;
      const p = m.role === "user" && m.client_id != null && pending.get(String(m.client_id));
      if (p) confirm(p, id, seq, m);
      else {
        on("show", m, seq);
        remember(m, id, seq);
      }
      on("message", m, seq);
    };
    const remember = (m, id, seq) => {
      if (id) seen.set(id, m);
      if (seq != null) {
        seenSeq.add(seq);
        if (seq > maxSeq) {
          maxSeq = seq;
          store.save({ seq: maxSeq });
        }
        on("remembered", m, seq);
      }
    };
    const gapCheck = (seq) => {
      if (!welcomed || !(seq > maxSeq + 1) || resumeFrom === maxSeq) return;
      resumeFrom = maxSeq;
      raw({ type: "resume", last_seq: maxSeq });
    };
    const confirm = (p, id, seq, m) => {
      pending.delete(p.client_id);
      saveOutbox();
      const msg = Object.assign({ role: "user", text: p.text, client_id: p.client_id, created_at: new Date(now()).toISOString() }, m || {}, { id: m && m.id != null ? m.id : id, seq });
      on("confirmed", p, msg, id, seq);
      remember(msg, id, seq);
      return msg;
    };
    const onAck = (f) => {
      if (f.conversation_id != null && f.visitor_token && String(f.conversation_id) !== String(conv)) {
        conv = f.conversation_id;
        store.save({ token: f.visitor_token, conv, uid: identity ? identity.userId : null });
        on("conversation", conv);
      }
      const p = pending.get(String(f.client_id));
      if (!p) return;
      gapCheck(f.seq == null ? null : +f.seq);
      busy = false;
      replyAt = now();
      const msg = confirm(p, f.message_id == null ? null : String(f.message_id), f.seq == null ? null : +f.seq, null);
      on("acked", msg);
    };
    const onErrorFrame = (f) => {
      if (ticketOut && String(f.client_id) === ticketOut.client_id) {
        ticketOut = null;
        on("ticketFailed", f);
        return;
      }
      const code = String(f.code || ""), p = f.client_id != null && pending.get(String(f.client_id));
      if (!welcomed && ws) {
        if ((code === "rate_limited" || code === "unavailable") && !p) {
          retryHello(f);
          return;
        }
        if (code === "identity_required" || code === "forbidden" && identity) {
          stopped = "identity";
          drop();
          on("status", "offline");
          on("notice", "identity_required", 0);
          return;
        }
        if (code === "not_found" || code === "forbidden") {
          if (store.load().token) {
            store.save({ token: null, conv: null });
            clear(true);
            reconnectNow();
            return;
          }
          stopped = true;
          drop();
          on("notice", "unavailable", 0);
          return;
        }
      }
      if (code === "hello_required") {
        drop();
        schedule();
        return;
      }
      if (code === "no_conversation") {
        fbOut.clear();
        csatOut = null;
        return;
      }
      if (code === "rate_limited" || code === "unavailable" && f.client_id != null) {
        holdUntil = now() + Math.max(1, +f.retry_after || 2) * 1e3;
        if (p) {
          p.gen = 0;
          flush();
        }
        if (code === "rate_limited") on("notice", code);
        else if (!busy) {
          busy = true;
          on("notice", "busy");
        }
        return;
      }
      if (p) fail(p);
      if (code === "reply_failed") on("replyFailed");
      on("notice", code);
    };
    const onHandoff = (f) => {
      if (!/^(bot|queued|assigned|resolved|offline)$/.test(f.status)) return;
      const s = { status: f.status, position: f.position, expected_wait_s: f.expected_wait_s, agent: f.agent || null };
      const was = handoff || { status: "bot" }, same = (x) => x.status + (x.status === "assigned" && x.agent ? "\n" + x.agent.name : "");
      if (handoff && JSON.stringify(s) === JSON.stringify(handoff)) return;
      handoff = s;
      if (s.status !== "offline" && store.load().ticket) store.save({ ticket: false });
      on("handoff", s, same(s) !== same(was));
    };
    const ticket = (o) => {
      ticketOut = Object.assign({ type: "offline_ticket", client_id: uuid2() }, o);
      if (live()) raw(ticketOut);
    };
    const saveOutbox = () => store.save({ outbox: Array.from(pending.values(), (p) => ({ client_id: p.client_id, text: p.text })) });
    const addPending = (client_id, text) => {
      const p = { client_id, text };
      pending.set(client_id, p);
      on("pending", p);
      return p;
    };
    const restoreOutbox = () => {
      for (const o of store.load().outbox || []) if (o && o.client_id && o.text) addPending(String(o.client_id), String(o.text));
    };
    const send = (text) => {
      text = String(text || "");
      if (!text.trim()) return false;
      const p = addPending(uuid2(), text);
      saveOutbox();
      on("queued", p);
      flush();
      return true;
    };
    const requeue = (p) => {
      p.gen = 0;
      pending.set(p.client_id, p);
      saveOutbox();
    };
    const flush = () => {
      if (!live()) return;
      const wait = holdUntil - now();
      if (wait > 0) {
        timers.clearTimeout(holdT);
        holdT = timers.setTimeout(flush, wait + 50);
        return;
      }
      for (const p of pending.values()) if (p.gen !== gen) {
        p.gen = gen;
        raw({ type: "message", client_id: p.client_id, text: p.text });
      }
    };
    const fail = (p) => {
      pending.delete(p.client_id);
      saveOutbox();
      on("failed", p);
    };
    const feedback = (id, rating) => {
      const fb = store.load().fb || {};
      fb[id] = rating;
      store.save({ fb });
      fbOut.set(id, rating);
      if (live()) raw({ type: "feedback", message_id: id, rating });
    };
    const rate = (score) => {
      csatOut = { score };
      store.save({ csat: conv });
      if (live()) raw({ type: "csat", score });
    };
    const clear = (keepOutbox) => {
      on("clearing", keepOutbox);
      if (!keepOutbox) {
        pending.clear();
        saveOutbox();
      }
      seen.clear();
      seenSeq.clear();
      fbOut.clear();
      csatOut = null;
      maxSeq = 0;
      conv = null;
      resumeFrom = -1;
      handoff = ticketOut = null;
      on("cleared");
      store.save({ seq: 0, read: 0, fb: {}, conv: null, ticket: false });
    };
    const reset = () => {
      clear(false);
      store.save({ token: null, conv: null, csat: null });
      stopped = stopped === "identity" ? stopped : false;
      reconnectNow();
    };
    const identify = (o) => {
      o = o || {};
      const uid = o.userId != null ? o.userId : o.user_id, hash = o.userHash != null ? o.userHash : o.user_hash;
      const exp = o.userHashExpires != null ? o.userHashExpires : o.user_hash_expires;
      identity = uid != null && uid !== "" ? {
        userId: String(uid),
        userHash: String(hash || ""),
        expires: exp != null && exp !== "" ? Number(exp) : null
      } : null;
      const st = store.load(), cur = identity ? identity.userId : null;
      if (st.token && st.uid && st.uid !== cur) {
        clear(false);
        store.save({ token: null, conv: null, csat: null });
      }
      if (stopped === "identity") {
        stopped = false;
        on("unblocked");
      }
      if (started) reconnectNow();
    };
    const storageChanged = (newValue) => {
      let n = {};
      try {
        n = JSON.parse(newValue || "{}") || {};
      } catch (err) {
        return;
      }
      if (n.conv != null && conv != null && String(n.conv) === String(conv)) return;
      if (n.token && n.conv != null) {
        clear(true);
        reconnectNow();
      } else if (!n.token && conv != null) {
        clear(true);
        drop();
        schedule(3e3);
      }
    };
    const start = () => {
      started = true;
      connect();
    };
    const wake = () => {
      if (!ws && !stopped) {
        attempt = 0;
        connect();
      }
    };
    const online = () => {
      if (!live()) reconnectNow();
      else on("status", "online");
    };
    const offline = () => {
      if (ws) {
        drop();
        schedule();
      } else on("status", "offline");
    };
    return {
      start,
      wake,
      online,
      offline,
      storageChanged,
      reconnectNow,
      live,
      raw,
      flush,
      send,
      restoreOutbox,
      requeue,
      feedback,
      rate,
      reset,
      identify,
      clear,
      ticket,
      get ticketPending() {
        return !!ticketOut;
      },
      get conv() {
        return conv;
      },
      get maxSeq() {
        return maxSeq;
      },
      get stopped() {
        return stopped;
      },
      get started() {
        return started;
      },
      get connected() {
        return !!ws;
      },
      get attempt() {
        return attempt;
      },
      get pendingCount() {
        return pending.size;
      },
      outbox: () => Array.from(pending.values()),
      hasUserMessage: () => Array.from(seen.values()).some((m) => m.role === "user")
    };
  };

  // static/widget/src/ui.js
  var cps = (s) => Array.from(s);
  var createWidget = ({ key, ds, wsUrl, queued }) => {
    const W = window, D = document;
    const CSAT_IDLE_MS = (+ds.csatIdle || 180) * 1e3;
    const store = createStore(key, { local: webStorage("localStorage"), session: webStorage("sessionStorage") });
    const { load, save, sGet, sSet } = store;
    const host = D.createElement("chatplatform-widget");
    host.style.setProperty("all", "initial", "important");
    const root = host.attachShadow({ mode: "open" });
    if (root.adoptedStyleSheets && W.CSSStyleSheet && "replaceSync" in CSSStyleSheet.prototype) {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } else root.append(h("style", { text: CSS }));
    const texts = [];
    const T = (el, attr, key2, vars) => {
      texts.push([el, attr, key2, vars]);
      return el;
    };
    const lbl = (text) => T(h("span"), null, text);
    const wrap = h("div", { class: "root", part: "root" });
    const badge = h("span", { class: "badge", hidden: true, "aria-hidden": "true", "data-testid": "unread" });
    const launcher = h("button", { class: "launcher", type: "button", "aria-expanded": "false", "aria-controls": "cp-panel", "data-testid": "launcher", hidden: true, onclick: () => toggle() }, icon("chat", "i1"), icon("down", "i2"), badge);
    const hdAv = h("div", { class: "av", "aria-hidden": "true" });
    const title = h("h2", { id: "cp-title", "data-testid": "title" });
    const stTxt = h("span", { "data-testid": "status-text" });
    const status = h("div", { class: "st", role: "status", "data-testid": "status", "data-state": "connecting" }, h("span", { class: "dot" }), stTxt);
    const newBtn = h("button", { type: "button", role: "menuitem", "data-testid": "new-conversation", onclick: () => {
      menuOpen(false, true);
      reset();
    } }, icon("plus"), lbl("newConv"));
    const endBtn = h("button", { type: "button", role: "menuitem", "data-testid": "end-chat", onclick: () => {
      menuOpen(false, true);
      showCsat(true);
    } }, icon("end"), lbl("endChat"));
    const menu = h("div", { class: "menu", role: "menu", hidden: true, "data-testid": "menu-list" }, newBtn, endBtn);
    const menuBtn = T(h("button", { class: "ib", type: "button", "aria-haspopup": "menu", "aria-expanded": "false", "data-testid": "menu", onclick: () => menuOpen(menu.hidden) }, icon("more")), "aria-label", "menu");
    const closeBtn = T(h("button", { class: "ib", type: "button", "data-testid": "close", onclick: () => close(true) }, icon("down")), "aria-label", "close");
    const header = h("div", { class: "hd" }, hdAv, h("div", { class: "ttl" }, title, status), menuBtn, closeBtn, menu);
    const log = h("div", { role: "log", "aria-live": "polite", "aria-relevant": "additions", "data-testid": "messages" });
    const streamBox = h("div", { "aria-hidden": "true" });
    const typingTxt = h("span", { class: "sr" });
    const typingAv = h("div", { class: "av", "aria-hidden": "true" });
    const typingRow = h("div", { class: "row bot typing", hidden: true, "data-testid": "typing" }, typingAv, h("div", { class: "bub" }, h("i"), h("i"), h("i")), typingTxt);
    const qr = h("div", { class: "qr", hidden: true, "data-testid": "quick-replies" });
    const csat = h("div", { class: "csat", role: "group", "aria-labelledby": "cp-csat-q", hidden: true, "data-testid": "csat" });
    const tkBox = h("div", { class: "csat tk", hidden: true, "data-testid": "offline-form" });
    const scroller = h("div", { class: "scroll", "data-testid": "scroll" }, log, streamBox, h("div", { role: "status" }, typingRow), qr, tkBox, csat);
    const notice = h("div", { class: "notice", role: "alert", hidden: true, "data-testid": "notice" });
    const input = T(T(h("textarea", { rows: "1", "data-testid": "input", enterkeyhint: "send", autocomplete: "off" }), "placeholder", "placeholder"), "aria-label", "placeholder");
    const sendBtn = T(h("button", { class: "send", type: "submit", disabled: true, "data-testid": "send" }, icon("send")), "aria-label", "send");
    const form = h("form", { class: "comp", onsubmit: (e) => {
      e.preventDefault();
      submit();
    } }, input, sendBtn);
    const panel = h("div", { class: "panel", id: "cp-panel", role: "dialog", "aria-labelledby": "cp-title", hidden: true, "data-testid": "panel" }, header, scroller, notice, form);
    const greetRow = h("div", { class: "row bot", hidden: true });
    const greetBub = h("div", { class: "bub", "data-testid": "greeting", "data-role": "bot" });
    greetRow.append(h("div", { class: "av", "aria-hidden": "true" }), h("div", { class: "col" }, greetBub));
    greetRow._seq = -1;
    log.append(greetRow);
    wrap.append(launcher, panel);
    root.append(wrap);
    let isOpen = false, lang = pickLang(ds.locale || (load().bot || {}).language), bot = {};
    let readyFired = false, readyData = null, typingT = 0, idleT = 0;
    let booted = false, typingOn = false, sentTypingAt = 0, typingOffT = 0, noticeT = 0, stick = true, lastMsg = null;
    let hNote = null, tk = null;
    let withPerson = false;
    const botSeqs = [];
    const views = /* @__PURE__ */ new Map();
    const streams = /* @__PURE__ */ new Map();
    const handlers = {};
    const t = (k, vars) => translate(lang, k, vars);
    const emit = (ev, data) => (handlers[ev] || []).slice().forEach((fn) => {
      try {
        fn(data);
      } catch (e) {
        console.error(e);
      }
    });
    const botName = () => bot.title || bot.name || t("title");
    const agentOf = (a) => ({ name: String(a && a.name || "").trim() || t("agent"), avatar_url: a && a.avatar_url });
    const applyText = () => {
      wrap.setAttribute("lang", lang === "zh-hans" ? "zh-Hans" : "en");
      for (const [el, attr, key2, vars] of texts) {
        const v = t(key2, vars);
        if (attr) el.setAttribute(attr, v);
        else el.textContent = v;
      }
      title.textContent = botName();
      paintTyping();
      setStatus(status.dataset.state, stTxt.dataset.k);
      updateUnread();
      for (const m of root.querySelectorAll("[data-who]")) m.textContent = (m.dataset.who === "user" ? t("you") : botName()) + ": ";
      for (const r of root.querySelectorAll(".row.bot[data-id]")) paintFb(r);
      for (const el of root.querySelectorAll(".tm[data-at]")) el.textContent = fmtTime(el.dataset.at);
      for (const el of root.querySelectorAll(".srcl")) el.textContent = t("sources");
      for (const el of root.querySelectorAll(".hn")) el.textContent = handoffText(el._h);
      if (!csat.hidden) renderCsat(csat._done);
    };
    const fillAv = (el) => {
      const who = el._who || { name: botName(), avatar_url: bot.avatar_url };
      const src = who.avatar_url && safeUrl(who.avatar_url), initial = (Array.from(who.name.trim())[0] || "?").toUpperCase();
      el.textContent = "";
      if (src && /^https?:/.test(src)) {
        el.append(h("img", { src, alt: "", referrerpolicy: "no-referrer", onerror: (e) => {
          e.target.remove();
          el.textContent = initial;
        } }));
      } else el.textContent = initial;
    };
    const paintAvatars = () => root.querySelectorAll(".av").forEach(fillAv);
    const fmtTime = (at) => {
      const d = new Date(at);
      if (isNaN(d)) return "";
      try {
        return d.toLocaleTimeString(lang === "zh-hans" ? "zh-CN" : void 0, { hour: "numeric", minute: "2-digit" });
      } catch (e) {
        return "";
      }
    };
    const nearBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
    scroller.addEventListener("scroll", () => {
      stick = nearBottom();
    }, { passive: true });
    const toBottom = (force) => {
      if (force || stick) requestAnimationFrame(() => {
        scroller.scrollTop = scroller.scrollHeight;
      });
    };
    const place = (row, seq) => {
      row._seq = seq == null ? Infinity : seq;
      const after = Array.from(log.children).find((c) => c !== row && c._seq > row._seq);
      log.insertBefore(row, after || null);
    };
    const msgRow = (m) => {
      const isBot = m.role !== "user", agent = m.role === "agent" && agentOf(m.author);
      const bub = h("div", { class: "bub", "data-testid": "message", "data-role": agent ? "agent" : isBot ? "bot" : "user" });
      const who = agent ? h("div", { class: "nm", "data-testid": "author", text: agent.name }) : h("div", { class: "sr" }, h("span", { "data-who": isBot ? "bot" : "user", text: (isBot ? botName() : t("you")) + ": " }));
      const meta = h("div", { class: "meta" });
      const col = h("div", { class: "col" }, who, bub);
      const row = h("div", { class: "row " + (isBot ? "bot" : "user") + (agent ? " agent" : "") });
      if (isBot) {
        const av = h("div", { class: "av", "aria-hidden": "true" });
        av._who = agent;
        row.append(av, col);
        fillAv(av);
      } else row.append(col);
      col.append(meta);
      if (m.seq != null) bub.dataset.seq = m.seq;
      if (m.id != null) {
        bub.dataset.id = m.id;
        row.dataset.id = m.id;
      }
      if (isBot) md(m.text, bub);
      else bub.textContent = String(m.text == null ? "" : m.text);
      if (m.created_at) meta.append(h("span", { class: "tm", "data-at": m.created_at, text: fmtTime(m.created_at) }));
      if (isBot && !agent && m.id != null) {
        for (const r of ["up", "down"]) {
          meta.append(h("button", { class: "fb", type: "button", "aria-pressed": "false", "data-testid": "feedback-" + r, "data-rating": r, onclick: () => feedback(m.id, r, row) }, icon(r === "up" ? "up" : "dn")));
        }
        paintFb(row);
      }
      const cites = Array.isArray(m.citations) ? m.citations.filter((c) => c && (c.title || c.url)) : [];
      if (isBot && cites.length) {
        const box = h("div", { class: "cites" }, h("span", { class: "srcl", text: t("sources") }));
        for (const c of cites.slice(0, 8)) {
          const u = c.url && safeUrl(c.url), txt = String(c.title || c.url);
          box.append(u ? link(u, txt) : h("span", { class: "c", text: txt }));
        }
        bub.after(box);
      }
      return { row, bub, meta };
    };
    const paintFb = (row) => {
      const r = (load().fb || {})[row.dataset.id];
      for (const b of row.querySelectorAll(".fb")) {
        b.setAttribute("aria-pressed", String(b.dataset.rating === r));
        b.title = t(b.dataset.rating);
        b.setAttribute("aria-label", b.title);
      }
    };
    const setStatus = (s, k) => {
      status.dataset.state = s;
      stTxt.dataset.k = k || s;
      stTxt.textContent = t(k || s);
      if (s === "offline") stTxt.setAttribute("data-testid", "offline");
      else stTxt.setAttribute("data-testid", "status-text");
    };
    const paintTyping = () => {
      const who = typingAv._who;
      typingTxt.textContent = t("typing", { name: who ? who.name : botName() });
      typingTxt.className = who ? "who" : "sr";
    };
    const setTyping = (on, who) => {
      if (who !== void 0) {
        typingAv._who = who;
        fillAv(typingAv);
        paintTyping();
      }
      typingOn = on;
      clearTimeout(typingT);
      if (on) typingT = setTimeout(() => setTyping(false), 3e4);
      typingRow.hidden = !(on && !streams.size);
      if (!typingRow.hidden) toBottom();
    };
    const updateQr = () => {
      qr.textContent = "";
      const m = lastMsg;
      const list = m && m.role !== "user" && !client.pendingCount && !streams.size && Array.isArray(m.quick_replies) ? m.quick_replies.slice(0, 12) : [];
      for (const q of list) qr.append(h("button", { type: "button", "data-testid": "quick-reply", onclick: () => quick(String(q)) }, String(q)));
      qr.hidden = !list.length;
    };
    const updateUnread = () => {
      const read = load().read || 0;
      const n = isOpen ? 0 : botSeqs.filter((s) => s > read).length;
      badge.textContent = n > 9 ? "9+" : String(n);
      badge.hidden = !n;
      launcher.setAttribute("aria-label", isOpen ? t("close") : t("open") + (n ? " (" + t("unread", { n }) + ")" : ""));
    };
    const showNotice = (msg, ms) => {
      notice.textContent = "";
      notice.append(h("span", { text: msg }), h("button", { type: "button", "aria-label": t("dismiss"), onclick: hideNotice }, icon("x")));
      notice.hidden = false;
      clearTimeout(noticeT);
      if (ms !== 0) noticeT = setTimeout(hideNotice, ms || 7e3);
    };
    const hideNotice = () => {
      notice.hidden = true;
      notice.textContent = "";
    };
    const handoffText = (s) => {
      const wait = s.expected_wait_s == null ? "" : t("hWait", { n: Math.max(1, Math.ceil(s.expected_wait_s / 60)) });
      if (s.status === "queued") return t(s.position == null ? "hQueued" : "hQueuedAt", { position: s.position, wait });
      if (s.status === "assigned") return t("hAssigned", { name: agentOf(s.agent).name });
      if (s.status === "resolved") return t("hResolved", { name: s.agent ? agentOf(s.agent).name : t("team") });
      return t(s.status === "offline" ? "hOffline" : "hBot");
    };
    const showHandoff = (s, isNew) => {
      if (isNew) {
        hNote = h("div", { class: "hn", "data-testid": "handoff", "data-status": s.status });
        place(hNote, client.maxSeq + 0.5);
        toBottom();
      }
      if (hNote) {
        hNote._h = s;
        hNote.textContent = handoffText(s);
      }
      tkBox.hidden = s.status !== "offline";
      withPerson = /^(queued|assigned)$/.test(s.status);
      if (isNew && s.status === "offline") renderTicket(true);
    };
    const renderTicket = (focus) => {
      tkBox.textContent = "";
      tk = null;
      if (load().ticket) {
        const p = tkBox.appendChild(h("p", { role: "status", tabindex: "-1", "data-testid": "offline-thanks", text: t("tkThanks") }));
        if (focus && isOpen) p.focus();
        return;
      }
      tk = {
        name: h("input", { name: "name", autocomplete: "name" }),
        email: h("input", { name: "email", type: "email", required: true, autocomplete: "email" }),
        message: h("textarea", { name: "message", required: true, rows: "3" }),
        err: h("p", { class: "bad", role: "alert", hidden: true, "data-testid": "ticket-error" }),
        send: h("button", { class: "nb", type: "submit", "data-testid": "ticket-send", text: t("send") })
      };
      const say = (tag, k, attrs) => T(h(tag, Object.assign({ text: t(k) }, attrs)), null, k);
      const lab = (k, el) => h("label", null, say("span", k), el);
      tkBox.append(h(
        "form",
        { "aria-labelledby": "cp-tk-t", onsubmit: (e) => {
          e.preventDefault();
          sendTicket();
        } },
        say("p", "tkTitle", { id: "cp-tk-t" }),
        lab("tkName", tk.name),
        lab("tkEmail", tk.email),
        lab("tkMsg", tk.message),
        tk.err,
        tk.send
      ));
      const first = tk.name;
      if (focus && isOpen) requestAnimationFrame(() => first.focus());
    };
    const sendTicket = () => {
      if (client.ticketPending) return;
      if (!tk.message.value.trim()) {
        tk.message.focus();
        return;
      }
      tk.err.hidden = true;
      tk.send.textContent = t("sending");
      client.ticket({ name: tk.name.value, email: tk.email.value, message: tk.message.value });
    };
    const ticketFailed = (f) => {
      if (!tk) return;
      tk.send.textContent = t("send");
      tk.err.textContent = STR.en[f.code] ? t(f.code) : String(f.detail || t("generic"));
      tk.err.hidden = false;
    };
    const applyBot = (b) => {
      bot = Object.assign({}, b || {});
      save({ bot });
      lang = pickLang(ds.locale || bot.language);
      applyTheme(wrap, bot.color);
      wrap.classList.toggle("left", bot.position === "left");
      greetBub.textContent = "";
      if (bot.greeting) md(bot.greeting, greetBub);
      greetRow.hidden = !bot.greeting;
      paintAvatars();
      applyText();
      launcher.hidden = false;
    };
    const setPendingUi = (p, state) => {
      const v = views.get(p.client_id);
      v.bub.dataset.state = state;
      v.meta.textContent = "";
      if (state === "sending") v.meta.append(h("span", { "data-testid": "msg-status", text: t("sending") }));
      else {
        v.meta.append(
          h("span", { class: "bad", "data-testid": "msg-status", text: t("failed") }),
          h("button", { class: "lnk", type: "button", text: t("retry"), onclick: () => {
            client.requeue(p);
            setPendingUi(p, "sending");
            client.flush();
          } })
        );
      }
    };
    const addPendingRow = (p) => {
      const { row, bub, meta } = msgRow({ role: "user", text: p.text });
      views.set(p.client_id, { row, bub, meta });
      bub.dataset.clientId = p.client_id;
      setPendingUi(p, "sending");
      place(row, null);
    };
    const confirmRow = (p, msg, id, seq) => {
      const v = views.get(p.client_id);
      views.delete(p.client_id);
      v.bub.dataset.state = "sent";
      if (seq != null) v.bub.dataset.seq = seq;
      if (id) {
        v.bub.dataset.id = id;
        v.row.dataset.id = id;
      }
      v.meta.textContent = "";
      if (msg.created_at) v.meta.append(h("span", { class: "tm", "data-at": msg.created_at, text: fmtTime(msg.created_at) }));
      place(v.row, seq);
    };
    const failRow = (p) => {
      const v = views.get(p.client_id);
      if (!input.value.trim()) {
        v.row.remove();
        views.delete(p.client_id);
        input.value = p.text;
        autosize();
      } else setPendingUi(p, "failed");
      updateQr();
    };
    const submit = () => {
      if (client.send(input.value)) {
        input.value = "";
        autosize();
      }
      input.focus();
    };
    const quick = (q) => {
      client.send(q);
      input.focus();
    };
    const onDelta = (f) => {
      const k = String(f.reply_to), off = +f.offset || 0, chars = cps(String(f.text == null ? "" : f.text));
      let s = streams.get(k);
      if (!s) {
        if (off !== 0) {
          setTyping(true, null);
          return;
        }
        const { row, bub } = msgRow({ role: "bot", text: "" });
        bub.classList.add("stream");
        bub.setAttribute("data-testid", "streaming");
        bub.dataset.replyTo = k;
        s = { row, bub, text: "", n: 0, raf: 0 };
        streams.set(k, s);
        streamBox.append(row);
        qr.hidden = true;
      }
      if (off === 0 && s.n) {
        s.text = "";
        s.n = 0;
      }
      if (off > s.n) return;
      chars.splice(0, s.n - off);
      if (chars.length) {
        s.text += chars.join("");
        s.n += chars.length;
      }
      setTyping(typingOn);
      if (!s.raf) s.raf = requestAnimationFrame(() => {
        s.raf = 0;
        s.bub.textContent = "";
        md(s.text, s.bub);
        toBottom();
      });
      armIdle();
    };
    const dropStream = (k) => {
      const s = streams.get(k);
      if (!s) return;
      cancelAnimationFrame(s.raf);
      s.row.remove();
      streams.delete(k);
    };
    const dropStreams = () => streams.forEach((s, k) => dropStream(k));
    const feedback = (id, rating, row) => {
      client.feedback(id, rating);
      paintFb(row);
    };
    const armIdle = () => {
      clearTimeout(idleT);
      idleT = setTimeout(() => showCsat(false), CSAT_IDLE_MS);
    };
    const showCsat = (force) => {
      const st = load(), conv = client.conv;
      const done = conv != null && String(st.csat) === String(conv);
      if (!force && (done || withPerson || !botSeqs.length || !client.hasUserMessage())) return;
      renderCsat(done);
      csat.hidden = false;
      toBottom(true);
      if (force) {
        open(false);
        requestAnimationFrame(() => (csat.querySelector("button") || input).focus());
      }
    };
    const renderCsat = (done) => {
      csat._done = done;
      csat.textContent = "";
      if (done) {
        csat.append(h("p", { id: "cp-csat-q", text: t("csatThanks") }), h("button", { class: "nb", type: "button", "data-testid": "csat-new", onclick: reset }, t("newConv")));
        return;
      }
      const stars = h("div", { class: "stars", "data-testid": "csat-stars" });
      const hl = (n) => stars.childNodes.forEach((b, i) => b.classList.toggle("hl", i < n));
      for (let n = 1; n <= 5; n++) {
        stars.append(h("button", {
          type: "button",
          "aria-label": t("star", { n }),
          "data-testid": "csat-" + n,
          "data-score": n,
          onmouseenter: () => hl(n),
          onfocus: () => hl(n),
          onmouseleave: () => hl(0),
          onblur: () => hl(0),
          onclick: () => rate(n)
        }, icon("star")));
      }
      csat.append(h("p", { id: "cp-csat-q", text: t("csatQ") }), stars);
    };
    const rate = (score) => {
      client.rate(score);
      renderCsat(true);
      csat.querySelector("button").focus();
    };
    const client = createClient({
      url: wsUrl,
      WebSocket: function(url) {
        return new W.WebSocket(url);
      },
      store,
      timers: W,
      now: () => Date.now(),
      random: () => Math.random(),
      uuid: () => uuid(),
      locale: () => lang,
      hooks: {
        status: setStatus,
        notice: (code, ms) => showNotice(STR.en[code] ? t(code) : t("generic"), ms),
        bot: applyBot,
        welcomed: (conv) => {
          updateQr();
          updateUnread();
          if (!readyFired) {
            readyFired = true;
            readyData = { conversation_id: conv, bot: Object.assign({}, bot) };
            emit("ready", readyData);
          }
        },
        conversation: (conv) => {
          if (readyData) readyData.conversation_id = conv;
        },
        show: (m, seq) => {
          if (m.role !== "user" && m.reply_to != null) dropStream(String(m.reply_to));
          const { row } = msgRow(m);
          place(row, seq);
        },
        remembered: (m, seq) => {
          if (!lastMsg || seq >= (lastMsg.seq || 0)) lastMsg = m;
          if (isOpen) save({ read: client.maxSeq });
        },
        message: (m, seq) => {
          if (m.role !== "user") {
            if (seq != null) botSeqs.push(seq);
            if (!streams.size) setTyping(false);
          }
          updateQr();
          updateUnread();
          armIdle();
          toBottom();
          emit("message", Object.assign({}, m));
        },
        pending: addPendingRow,
        queued: () => {
          updateQr();
          stopTyping();
          toBottom(true);
        },
        confirmed: confirmRow,
        acked: (msg) => {
          updateQr();
          armIdle();
          emit("message", msg);
        },
        failed: failRow,
        delta: onDelta,
        typing: (on, author) => setTyping(on, author ? agentOf(author) : null),
        handoff: showHandoff,
        ticketSent: () => renderTicket(true),
        ticketFailed,
        replyFailed: () => {
          dropStreams();
          setTyping(false);
          updateQr();
        },
        dropped: () => {
          dropStreams();
          setTyping(false);
        },
        refresh: updateQr,
        clearing: (keepOutbox) => {
          for (const c of Array.from(log.children)) if (c !== greetRow && !(keepOutbox && c._seq === Infinity)) c.remove();
          if (!keepOutbox) views.clear();
          dropStreams();
        },
        cleared: () => {
          botSeqs.length = 0;
          lastMsg = null;
          hNote = null;
          withPerson = false;
          csat.hidden = tkBox.hidden = true;
          hideNotice();
          setTyping(false);
          updateQr();
          updateUnread();
        },
        unblocked: hideNotice
      }
    });
    const reset = () => {
      client.reset();
      if (isOpen) input.focus();
    };
    const open = (focus = true) => {
      if (!isOpen) {
        isOpen = true;
        sSet("1");
        panel.hidden = false;
        wrap.classList.add("open");
        launcher.setAttribute("aria-expanded", "true");
        save({ read: client.maxSeq });
        updateUnread();
        toBottom(true);
        if (booted) client.wake();
        emit("open");
      }
      if (focus) requestAnimationFrame(() => input.focus());
    };
    const close = (returnFocus) => {
      if (!isOpen) return;
      isOpen = false;
      sSet("0");
      menuOpen(false);
      panel.hidden = true;
      wrap.classList.remove("open");
      launcher.setAttribute("aria-expanded", "false");
      updateUnread();
      if (returnFocus) launcher.focus();
      emit("close");
    };
    const toggle = () => isOpen ? close(true) : open();
    const menuOpen = (on, refocus) => {
      menu.hidden = !on;
      menuBtn.setAttribute("aria-expanded", String(!!on));
      if (on) newBtn.focus();
      else if (refocus) menuBtn.focus();
    };
    const autosize = () => {
      input.style.height = "auto";
      input.style.height = Math.min(input.scrollHeight + 2, 132) + "px";
      sendBtn.disabled = !input.value.trim();
    };
    const stopTyping = () => {
      clearTimeout(typingOffT);
      if (sentTypingAt) {
        sentTypingAt = 0;
        if (client.live()) client.raw({ type: "typing", on: false });
      }
    };
    input.addEventListener("input", () => {
      autosize();
      if (!client.live()) return;
      if (Date.now() - sentTypingAt > 4e3) {
        sentTypingAt = Date.now();
        client.raw({ type: "typing", on: true });
      }
      clearTimeout(typingOffT);
      typingOffT = setTimeout(stopTyping, 5e3);
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        submit();
      }
    });
    panel.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.stopPropagation();
        if (!menu.hidden) menuOpen(false, true);
        else close(true);
      } else if (!menu.hidden && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
        e.preventDefault();
        (root.activeElement === newBtn ? endBtn : newBtn).focus();
      }
    });
    panel.addEventListener("click", (e) => {
      if (!menu.hidden && !e.composedPath().some((n) => n === menu || n === menuBtn)) menuOpen(false);
    });
    W.addEventListener("online", () => client.online());
    W.addEventListener("offline", () => client.offline());
    D.addEventListener("visibilitychange", () => {
      if (!D.hidden) client.wake();
    });
    W.addEventListener("storage", (e) => {
      if (e.key !== store.key) return;
      client.storageChanged(e.newValue);
    });
    const api = {
      version: "1.0.0",
      open: () => open(),
      close: () => close(false),
      toggle: () => toggle(),
      reset: () => reset(),
      identify: (o) => client.identify(o),
      on: (ev, fn) => {
        if (typeof fn !== "function") return api;
        (handlers[ev] = handlers[ev] || []).push(fn);
        if (ev === "ready" && readyFired) queueMicrotask(() => fn(readyData));
        return api;
      },
      off: (ev, fn) => {
        handlers[ev] = (handlers[ev] || []).filter((f) => f !== fn);
        return api;
      },
      send: (text) => client.send(text)
    };
    const boot = () => {
      D.body.append(host);
      const st = load();
      if (st.bot) applyBot(st.bot);
      else {
        applyTheme(wrap);
        applyText();
        setTimeout(() => {
          launcher.hidden = false;
        }, 4e3);
      }
      setStatus("connecting");
      client.restoreOutbox();
      for (const c of queued) {
        const [name, ...args] = Array.from(c || []);
        if (typeof api[name] === "function") {
          try {
            api[name](...args);
          } catch (e) {
            console.error(e);
          }
        }
      }
      const s = sGet();
      if (s === "1" || s == null && /^(1|true|yes|)$/i.test(ds.open == null ? "no" : ds.open)) open(false);
      booted = true;
      client.start();
    };
    return { api, boot };
  };

  // static/widget/src/main.js
  var main = () => {
    const W = window, D = document;
    const prior = W.ChatPlatform;
    if (prior && prior.version) return;
    const script = D.currentScript || Array.from(D.querySelectorAll("script[src][data-bot]")).find((s) => /chatplatform[\w.-]*\.js([?#]|$)/.test(s.src));
    const KEY = script && script.dataset.bot;
    if (!KEY) {
      console.warn('[chatplatform] <script data-bot="PUBLIC_KEY"> is missing');
      return;
    }
    const ds = script.dataset;
    const ORIGIN = new URL(ds.server || script.src, location.href).origin;
    const WS_URL = ORIGIN.replace(/^http/, "ws") + "/ws/chat/" + encodeURIComponent(KEY) + "/";
    const queued = prior && Array.isArray(prior.q) ? prior.q : [];
    const { api, boot } = createWidget({ key: KEY, ds, wsUrl: WS_URL, queued });
    W.ChatPlatform = api;
    if (D.body) boot();
    else D.addEventListener("DOMContentLoaded", boot);
  };
  main();
})();
