/* The admin's test console: the widget protocol over /ws/console/<bot id>/, with per-turn details.
 * Loaded as a file (the platform's CSP allows no inline script); the page passes its data in
 * data-* attributes on #console: data-ws-path, data-bot-name and the translated strings. */
(() => {
  "use strict";
  const root = document.getElementById("console"), log = document.getElementById("log");
  const status = document.getElementById("status"), input = document.getElementById("text");
  const ds = root.dataset;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  let ws, streaming = new Map();
  const add = (role, text) => {
    const turn = document.createElement("div"); turn.className = "turn " + role;
    const who = document.createElement("div"); who.className = "who"; who.textContent = role === "user" ? ds.youLabel : ds.botName;
    const body = document.createElement("div"); body.className = "text"; body.textContent = text;
    turn.append(who, body); log.append(turn); log.scrollTop = log.scrollHeight; return turn;
  };
  const details = (turn, d) => {
    const el = document.createElement("div"); el.className = "details";
    const pct = d.confidence == null ? "–" : (d.confidence * 100).toFixed(1) + "%";
    const ents = (d.entities || []).map(e => `${e.entity}=${JSON.stringify(e.value)}`).join(", ") || "–";
    // The labels come translated from the template's data-* attributes (English if one is missing).
    const l = (key, fallback) => ds[key] || fallback;
    const parts = [[l("intentLabel", "intent"), d.intent || l("outOfScopeLabel", "(out of scope)")], [l("confidenceLabel", "confidence"), pct],
                   [l("entitiesLabel", "entities"), ents], [l("actionLabel", "action"), d.action],
                   ["TTFT", d.time_to_first_token_ms == null ? "–" : d.time_to_first_token_ms + " ms"], [l("totalLabel", "total"), d.total_time_ms + " ms"],
                   [l("tokensLabel", "tokens"), d.completion_tokens == null ? "–" : `${d.prompt_tokens}→${d.completion_tokens}`]];
    parts.forEach(([k, v], i) => { const b = document.createElement("b"); b.textContent = k + ": "; el.append(b, String(v), i < parts.length - 1 ? " · " : ""); });
    turn.append(el);
  };
  const connect = () => {
    ws = new WebSocket(`${scheme}://${location.host}${ds.wsPath}`);
    ws.onopen = () => ws.send(JSON.stringify({type: "hello", v: 1}));
    ws.onclose = () => { status.textContent = ds.disconnectedLabel; };
    ws.onmessage = (event) => {
      const f = JSON.parse(event.data);
      if (f.type === "welcome") status.textContent = `${ds.connectedLabel} #${f.conversation_id}`;
      else if (f.type === "delta") {
        let turn = streaming.get(f.reply_to);
        if (!turn) { turn = add("bot", ""); streaming.set(f.reply_to, turn); }
        const body = turn.querySelector(".text"); body.textContent = (f.offset === 0 ? "" : body.textContent) + f.text;
      } else if (f.type === "message" && f.role === "bot") {
        const turn = streaming.get(f.reply_to) || add("bot", ""); streaming.delete(f.reply_to);
        turn.querySelector(".text").textContent = f.text; if (f.details) details(turn, f.details);
      } else if (f.type === "error") add("bot", `⚠ ${f.code}: ${f.detail}`);
    };
  };
  document.getElementById("composer").addEventListener("submit", (e) => {
    e.preventDefault(); const text = input.value.trim(); if (!text || ws.readyState !== 1) return;
    add("user", text); ws.send(JSON.stringify({type: "message", client_id: crypto.randomUUID ? crypto.randomUUID() : String(Date.now() + Math.random()), text}));
    input.value = "";
  });
  document.getElementById("restart").addEventListener("click", () => { log.replaceChildren(); streaming.clear(); ws.onclose = null; ws.close(); connect(); });
  connect(); input.focus();
})();
