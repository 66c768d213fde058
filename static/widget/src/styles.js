// The widget's stylesheet, adopted by its shadow root.
export const CSS = `
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
