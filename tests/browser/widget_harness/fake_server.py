"""A fake chat server speaking WebSocket protocol v1, for checking the widget by hand or from a script.

Not the real server and not a test: it keeps conversations in memory and answers with scripted replies
so every widget path (streaming, restart, XSS payloads, errors, replay) can be triggered on purpose.

    python tests/browser/widget_harness/fake_server.py --port 8765
    open http://127.0.0.1:8765/            (English bot, key pk_demo)
    open http://127.0.0.1:8765/?key=pk_zh  (bot with language zh-hans)

Scripted replies by what the visitor types: "xss", "md", "restart", "slow", "fail", "ratelimit",
anything over 2000 characters (message_too_long); anything else gets an echo with quick replies.
GET /admin/kick closes every socket (reconnect check); GET /admin/down?secs=5 also refuses new sockets
for a while (offline queue check); GET /admin/push?text=... pushes a bot message; GET /admin/frames
lists the frames clients sent.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import secrets
from pathlib import Path

from aiohttp import WSMsgType, web

ROOT = Path(__file__).resolve().parents[3]
WIDGET = ROOT / "static" / "widget" / "chatplatform.js"

BOTS = {
    "pk_demo": {
        "name": "Acme Support",
        "title": "Acme Support",
        "color": "#4f46e5",
        "position": "right",
        "avatar_url": "",
        "greeting": "Hi there 👋 I'm the Acme assistant. How can I help you today?",
        "language": "en",
    },
    "pk_zh": {
        "name": "小助手",
        "title": "Acme 客服",
        "color": "#0f766e",
        "position": "left",
        "avatar_url": "",
        "greeting": "你好！有什么可以帮你的吗？",
        "language": "zh-hans",
    },
    "pk_light": {
        "name": "Sunny",
        "title": "Sunny Help",
        "color": "#fde047",
        "position": "right",
        "avatar_url": "",
        "greeting": "Hello!",
        "language": "auto",
    },
}

XSS = (
    "Here you go: <img src=x onerror=alert(1)> and <script>alert(2)</script> and "
    "[click me](javascript:alert(3)) and [ok link](https://example.com/a?b=1) and "
    '[js2](JaVaScRiPt:alert(4)) <a href="javascript:alert(5)">raw</a> '
    "![img](https://example.com/x.png) **bold <b>not html</b>**"
)
MD = (
    "Sure! Here is what I found:\n\n**Shipping** takes *2-3 days*. Use code `FREESHIP` at checkout.\n\n"
    "1. Open your cart\n2. Enter the code\n3. Pay\n\n- Tracking: https://example.com/track.\n"
    "- Email: [support](mailto:help@example.com)\n\n```\ncurl https://api.example.com/v1/orders\n```"
)

SHIP = (
    "Most orders arrive in **2–3 business days**. Orders over $50 ship free.\n\n"
    "1. Express delivery: next day, $9.90\n2. Standard: 2–3 days\n\n"
    "You can follow your parcel at https://example.com/track."
)


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class Conversation:
    def __init__(self, key: str) -> None:
        self.id = secrets.token_hex(4)
        self.key = key
        self.token = "vt_" + secrets.token_urlsafe(12)
        self.messages: list[dict] = []
        self.by_client: dict[str, dict] = {}
        self.sockets: set[web.WebSocketResponse] = set()
        self.rate_limited_once = False

    def add(self, **fields) -> dict:
        msg = {
            "type": "message",
            "id": secrets.token_hex(6),
            "seq": len(self.messages) + 1,
            "created_at": now(),
            **fields,
        }
        self.messages.append(msg)
        return msg

    async def broadcast(self, frame: dict, drop_for: set | None = None) -> None:
        for s in list(self.sockets):
            if drop_for and s in drop_for:
                continue
            try:
                await s.send_json(frame)
            except ConnectionError:
                self.sockets.discard(s)


CONVS: dict[str, Conversation] = {}
ALL_SOCKETS: set[web.WebSocketResponse] = set()


async def stream_reply(
    conv: Conversation,
    user: dict,
    text: str,
    *,
    quick=None,
    citations=None,
    restart: bool = False,
    chunk: int = 6,
    delay: float = 0.05,
) -> None:
    await asyncio.sleep(0.3)
    await conv.broadcast({"type": "typing", "role": "bot", "on": True})
    await asyncio.sleep(0.6)
    if restart:
        partial = "This first attempt will be thrown away…"
        for i in range(0, len(partial), chunk):
            await conv.broadcast({"type": "delta", "reply_to": user["id"], "offset": i, "text": partial[i : i + chunk]})
            await asyncio.sleep(delay)
    for i in range(0, len(text), chunk):
        await conv.broadcast({"type": "delta", "reply_to": user["id"], "offset": i, "text": text[i : i + chunk]})
        await asyncio.sleep(delay)
    msg = conv.add(role="bot", text=text, reply_to=user["id"], quick_replies=quick or [], citations=citations or [])
    await conv.broadcast({"type": "typing", "role": "bot", "on": False})
    await conv.broadcast(msg)


async def handle_user(conv: Conversation, ws: web.WebSocketResponse, frame: dict) -> None:
    cid, text = frame.get("client_id"), frame.get("text")
    if not isinstance(cid, str) or not isinstance(text, str) or not cid or len(cid) > 64:
        await ws.send_json({"type": "error", "code": "bad_frame", "detail": "message needs client_id and text"})
        return
    if len(text) > 2000:
        await ws.send_json(
            {"type": "error", "code": "message_too_long", "detail": "Max 2000 characters.", "client_id": cid}
        )
        return
    if text.strip().lower() == "ratelimit" and not conv.rate_limited_once:
        conv.rate_limited_once = True
        await ws.send_json(
            {"type": "error", "code": "rate_limited", "detail": "Slow down.", "retry_after": 1, "client_id": cid}
        )
        return
    if cid in conv.by_client:
        m = conv.by_client[cid]
        await ws.send_json({"type": "ack", "client_id": cid, "message_id": m["id"], "seq": m["seq"], "duplicate": True})
        return
    user = conv.add(role="user", text=text, client_id=cid)
    conv.by_client[cid] = user
    await ws.send_json(
        {"type": "ack", "client_id": cid, "message_id": user["id"], "seq": user["seq"], "duplicate": False}
    )
    await conv.broadcast(user, drop_for={ws})  # other tabs of the same visitor
    t = text.strip().lower()
    if t == "xss":
        await stream_reply(conv, user, XSS)
    elif t == "md":
        await stream_reply(
            conv,
            user,
            MD,
            citations=[
                {"title": "Shipping policy", "url": "https://example.com/shipping"},
                {"title": "Evil", "url": "javascript:alert(1)"},
            ],
        )
    elif t == "restart":
        await stream_reply(conv, user, "Second attempt: this is the real answer.", restart=True)
    elif t == "slow":
        await stream_reply(
            conv, user, "Streaming slowly so you can watch every chunk arrive in one bubble. " * 3, chunk=4, delay=0.25
        )
    elif "shipping" in t:
        await stream_reply(
            conv,
            user,
            SHIP,
            quick=["Track my order", "Return policy", "Talk to a human"],
            citations=[{"title": "Shipping policy", "url": "https://example.com/shipping"}],
        )
    elif t == "fail":
        await asyncio.sleep(0.5)
        await ws.send_json({"type": "error", "code": "reply_failed", "detail": "The bot could not answer."})
    else:
        await stream_reply(
            conv,
            user,
            f"You said: **{text}**. Anything else I can help with?",
            quick=["Pricing", "Shipping", "Talk to a human"],
        )


async def ws_handler(request: web.Request) -> web.StreamResponse:
    key = request.match_info["key"]
    if key not in BOTS:
        return web.Response(status=403)
    if asyncio.get_running_loop().time() < request.app["down_until"]:
        return web.Response(status=503)
    ws = web.WebSocketResponse(heartbeat=None)
    await ws.prepare(request)
    ALL_SOCKETS.add(ws)
    conv: Conversation | None = None
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                await ws.send_json({"type": "error", "code": "bad_frame", "detail": "text frames only"})
                continue
            try:
                f = json.loads(msg.data)
            except ValueError:
                await ws.send_json({"type": "error", "code": "bad_json", "detail": "invalid JSON"})
                continue
            request.app["log"].append(f)
            typ = f.get("type") if isinstance(f, dict) else None
            if typ == "ping":
                await ws.send_json({"type": "pong"})
            elif typ == "hello":
                token = f.get("visitor_token")
                conv = CONVS.get(token) if token else None
                if token and (conv is None or conv.key != key):
                    await ws.send_json({"type": "error", "code": "not_found", "detail": "unknown visitor token"})
                    conv = None
                    continue
                if conv is None:
                    conv = Conversation(key)
                    CONVS[conv.token] = conv
                conv.sockets.add(ws)
                last = int(f.get("last_seq") or 0)
                await ws.send_json(
                    {
                        "type": "welcome",
                        "v": 1,
                        "conversation_id": conv.id,
                        "visitor_token": conv.token,
                        "last_seq": len(conv.messages),
                        "bot": BOTS[key],
                        "messages": [m for m in conv.messages if m["seq"] > last],
                    }
                )
            elif conv is None:
                await ws.send_json({"type": "error", "code": "hello_required", "detail": "say hello first"})
            elif typ == "message":
                asyncio.create_task(handle_user(conv, ws, f))
            elif typ == "resume":
                last = int(f.get("last_seq") or 0)
                for m in conv.messages:
                    if m["seq"] > last:
                        await ws.send_json(m)
            elif typ == "feedback":
                await ws.send_json(
                    {"type": "feedback_ack", "message_id": f.get("message_id"), "rating": f.get("rating")}
                )
            elif typ == "csat":
                await ws.send_json({"type": "csat_ack", "score": f.get("score")})
            elif typ == "typing":
                pass
            else:
                await ws.send_json({"type": "error", "code": "unknown_type", "detail": str(typ)})
    finally:
        ALL_SOCKETS.discard(ws)
        if conv:
            conv.sockets.discard(ws)
    return ws


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Acme Store - widget demo</title>
<style>
  /* hostile host-page CSS: the widget must not be affected */
  * {{ font-family: Georgia, serif; letter-spacing: .5px; }}
  button {{ background: hotpink !important; border: 4px dashed lime; }}
  textarea {{ background: #ff0 !important; }}
  div {{ line-height: 3 }}
  body {{ margin: 0; background: linear-gradient(160deg,#eef2ff,#f8fafc 60%); color: #0f172a; }}
  .hero {{ max-width: 760px; margin: 0 auto; padding: 64px 24px; line-height: 1.6 }}
  .hero h1 {{ font-size: 42px; margin: 0 0 12px }}
  .card {{ background: #fff; border-radius: 14px; padding: 20px 24px; box-shadow: 0 2px 12px rgba(0,0,0,.06); margin-top: 24px }}
</style></head><body>
<div class="hero"><h1>Acme Store</h1><p>Spring collection is here. Free shipping on orders over $50.</p>
<div class="card"><b>Need help?</b> Our assistant answers in seconds - click the chat button.</div>
<div class="card">Lorem ipsum dolor sit amet, consectetur adipiscing elit. Integer nec odio. Praesent libero.
Sed cursus ante dapibus diam. Sed nisi. Nulla quis sem at nibh elementum imperdiet.</div></div>
<script>window.ChatPlatform=window.ChatPlatform||{{q:[]}};["open","close","toggle","reset","identify","on"].forEach(function(m){{ChatPlatform[m]=ChatPlatform[m]||function(){{ChatPlatform.q.push([m].concat([].slice.call(arguments)))}}}});
window.__events=[];ChatPlatform.on("ready",function(d){{__events.push(["ready",d]);}});ChatPlatform.on("message",function(m){{__events.push(["message",m]);}});
ChatPlatform.on("open",function(){{__events.push(["open"]);}});ChatPlatform.on("close",function(){{__events.push(["close"]);}});</script>
<script src="/static/widget/chatplatform.js" data-bot="{key}" {extra} async></script>
</body></html>"""


async def page(request: web.Request) -> web.Response:
    key = request.query.get("key", "pk_demo")
    extra = ""
    if "locale" in request.query:
        extra += f'data-locale="{request.query["locale"]}" '
    if "open" in request.query:
        extra += "data-open "
    if "csat_idle" in request.query:
        extra += f'data-csat-idle="{request.query["csat_idle"]}" '
    return web.Response(text=PAGE.format(key=key, extra=extra), content_type="text/html")


async def widget(request: web.Request) -> web.Response:
    return web.Response(
        body=WIDGET.read_bytes(), content_type="application/javascript", headers={"Cache-Control": "no-store"}
    )


async def kick(request: web.Request) -> web.Response:
    n = len(ALL_SOCKETS)
    for s in list(ALL_SOCKETS):
        await s.close(code=1012)
    return web.json_response({"closed": n})


async def down(request: web.Request) -> web.Response:
    request.app["down_until"] = asyncio.get_running_loop().time() + float(request.query.get("secs", "5"))
    return await kick(request)


async def push(request: web.Request) -> web.Response:
    text = request.query.get("text", "A message while you were away.")
    for conv in CONVS.values():
        msg = conv.add(role="bot", text=text, quick_replies=[], citations=[])
        await conv.broadcast(msg)
    return web.json_response({"ok": True})


async def frames(request: web.Request) -> web.Response:
    return web.json_response(request.app["log"][-200:])


def make_app() -> web.Application:
    app = web.Application()
    app["log"] = []
    app["down_until"] = 0.0
    app.router.add_get("/", page)
    app.router.add_get("/static/widget/chatplatform.js", widget)
    app.router.add_get("/ws/chat/{key}/", ws_handler)
    app.router.add_get("/admin/kick", kick)
    app.router.add_get("/admin/push", push)
    app.router.add_get("/admin/down", down)
    app.router.add_get("/admin/frames", frames)
    return app


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    a = ap.parse_args()
    web.run_app(make_app(), host=a.host, port=a.port, print=None)
