"""The pretend customer of `make run`: its website (a static page with the widget) and its own
"shop API", a real HTTP service the demo bot's actions call:

- `GET /api/orders/<number>`: an order's status (anyone who has the number; `track_order`).
- `GET /api/customers/<id>/orders`: a signed-in customer's orders (`my_orders`, a verified visitor).
- `GET /api/customers/<id>/account`: their address and e-mail (`account_details`, a verified
  visitor who also typed a one-time code).
- `POST /api/step-up/codes`: deliver a one-time code to a customer. A real shop sends an SMS; this
  one puts it in the customer's pretend phone, which the page shows (`GET /demo/phone?user_id=`).

The API checks the Standard Webhooks signature of every call when it was given the secrets, as a
customer's server should (docs/actions.md): unsigned or forged requests get 401. The page's "sign
in" is the shop's backend signing the visitor's identity for the widget (`POST /demo/sign-in`):
HMAC-SHA256 of the user id with the bot's secret, computed here, never in the browser.

    python -m chatplatform.launcher.demo_site --port 8001 --directory var/demo-site \
        --secret-file var/demo-orders-secret --identity-secret-file var/demo-identity-secret
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import html
import json
import re
import threading
import time
from collections.abc import Sequence
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

# The shop's orders. AC-12345 is the number the bot's prompt gives as an example.
DEMO_ORDERS: dict[str, dict[str, Any]] = {
    "AC-12345": {"status": "shipped", "summary": "was shipped on 1 December and should arrive by 4 December"},
    "AC-10001": {"status": "processing", "summary": "is being packed and will be shipped tomorrow"},
    "AC-20002": {"status": "delivered", "summary": "was delivered on 28 November"},
}
# The shop's customers, who can sign in on the demo page.
DEMO_CUSTOMERS: dict[str, dict[str, Any]] = {
    "cust-alice": {
        "name": "Alice Walker",
        "orders": ["AC-12345", "AC-20002"],
        "email": "alice@example.com",
        "address": "12 Birch Lane, Springfield",
    },
    "cust-bob": {
        "name": "Bob Chen",
        "orders": ["AC-10001"],
        "email": "bob@example.com",
        "address": "7 Harbour Road, Portsmouth",
    },
}
_ORDER_PATH = re.compile(r"^/api/orders/([A-Za-z0-9-]{1,40})$")
_CUSTOMER_PATH = re.compile(r"^/api/customers/([a-z0-9-]{1,40})/(orders|account)$")
MAX_BODY = 10_000


class DemoSiteServer(ThreadingHTTPServer):
    """The server with the shop's state: the actions' secrets, the bot's identity secret, and the
    customers' pretend phones."""

    def __init__(self, address: tuple[str, int], handler: Any, *, secrets: Sequence[str], identity_secret: str) -> None:
        super().__init__(address, handler)
        self.secrets = tuple(s for s in secrets if s)
        self.identity_secret = identity_secret
        self.phones: dict[str, list[dict[str, Any]]] = {}
        self.phones_lock = threading.Lock()


class DemoSiteHandler(SimpleHTTPRequestHandler):
    @property
    def site(self) -> DemoSiteServer:
        return cast(DemoSiteServer, self.server)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if not self.path.startswith("/demo/phone"):  # the page polls its phone every 2 s
            super().log_request(code, size)

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(min(length, MAX_BODY)) if length > 0 else b""

    def _signed(self, body: bytes) -> bool:
        """True when one of the actions' secrets signed this request (or no secret was given)."""
        if not self.site.secrets:
            return True
        headers = dict(self.headers.items())
        for secret in self.site.secrets:
            try:
                Webhook(secret).verify(body, headers, json_parse=False)
                return True
            except (WebhookVerificationError, ValueError):
                continue
        self._json(401, {"error": "bad signature"})
        return False

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path == "/demo/phone":
            self._phone(query)
            return
        if not path.startswith("/api/"):
            super().do_GET()
            return
        if not self._signed(b""):
            return
        order = _ORDER_PATH.match(path)
        customer = _CUSTOMER_PATH.match(path)
        if order is not None:
            found = DEMO_ORDERS.get(order.group(1).upper())
            if found is None:
                self._json(404, {"error": "no such order"})
            else:
                self._json(200, {"number": order.group(1).upper(), **found})
        elif customer is not None and customer.group(1) in DEMO_CUSTOMERS:
            self._customer(customer.group(1), customer.group(2))
        else:
            self._json(404, {"error": "no such endpoint"})

    def _customer(self, user_id: str, what: str) -> None:
        person = DEMO_CUSTOMERS[user_id]
        if what == "account":
            self._json(200, {"name": person["name"], "email": person["email"], "address": person["address"]})
            return
        orders = [
            {"number": n, "status": DEMO_ORDERS[n]["status"], "line": f"{n} ({DEMO_ORDERS[n]['status']})"}
            for n in person["orders"]
        ]
        self._json(200, {"name": person["name"], "orders": orders})

    def do_POST(self) -> None:
        body = self._body()
        path = self.path.partition("?")[0]
        if path == "/demo/sign-in":
            self._sign_in(body)
            return
        if path != "/api/step-up/codes":
            self._json(404, {"error": "no such endpoint"})
            return
        if not self._signed(body):
            return
        try:
            data = json.loads(body)
            user_id, code = str(data["user_id"]), str(data["code"])
        except (ValueError, KeyError, TypeError):
            self._json(400, {"error": 'expected {"user_id": ..., "code": ...}'})
            return
        if user_id not in DEMO_CUSTOMERS:
            self._json(404, {"error": "no such customer"})
            return
        with self.site.phones_lock:
            inbox = self.site.phones.setdefault(user_id, [])
            inbox.append({"text": f"Your Acme code is {code}. It expires in 10 minutes.", "at": time.time()})
            del inbox[:-5]
        self._json(202, {"sent": True})

    def _sign_in(self, body: bytes) -> None:
        """The shop's backend after its own login: the widget identity for this customer."""
        try:
            user_id = str(json.loads(body or b"{}").get("user_id") or "")
        except (ValueError, AttributeError):
            user_id = ""
        if user_id not in DEMO_CUSTOMERS or not self.site.identity_secret:
            self._json(400, {"error": "unknown demo customer, or no identity secret configured"})
            return
        user_hash = hmac.new(self.site.identity_secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()
        self._json(200, {"userId": user_id, "userHash": user_hash, "name": DEMO_CUSTOMERS[user_id]["name"]})

    def _phone(self, query: str) -> None:
        """The demo customer's pretend phone: the codes "sent by SMS" (a loopback demo only)."""
        user_id = dict(p.partition("=")[::2] for p in query.split("&") if p).get("user_id", "")
        with self.site.phones_lock:
            messages = list(self.site.phones.get(user_id, []))
        self._json(200, {"messages": messages})


def demo_site_page(*, public: str, public_key: str) -> str:
    """The shop's home page (demo_site_page.html) embedding the widget of `public` for the bot."""
    page = (Path(__file__).parent / "demo_site_page.html").read_text()
    return page.replace("{PUBLIC}", html.escape(public)).replace("{KEY}", html.escape(public_key))


def demo_site_server(
    *,
    port: int,
    directory: Path,
    secrets: Sequence[str] = (),
    identity_secret: str = "",
    host: str = "127.0.0.1",
) -> DemoSiteServer:
    handler = partial(DemoSiteHandler, directory=str(directory))
    return DemoSiteServer((host, port), handler, secrets=secrets, identity_secret=identity_secret)


def demo_site_start_in_thread(
    *, port: int, directory: Path, secrets: Sequence[str] = (), identity_secret: str = ""
) -> DemoSiteServer:
    """For tests: the same server in a daemon thread; call `.shutdown()` when done."""
    server = demo_site_server(port=port, directory=directory, secrets=secrets, identity_secret=identity_secret)
    threading.Thread(target=server.serve_forever, name="demo-site", daemon=True).start()
    return server


def _secret_lines(path: Path | None) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()] if path and path.exists() else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--directory", type=Path, required=True)
    parser.add_argument("--secret-file", type=Path, default=None, help="The actions' signing secrets, one a line.")
    parser.add_argument("--identity-secret-file", type=Path, default=None, help="The bot's identity secret.")
    args = parser.parse_args()
    secrets = _secret_lines(args.secret_file)
    identity = (_secret_lines(args.identity_secret_file) or [""])[0]
    server = demo_site_server(port=args.port, directory=args.directory, secrets=secrets, identity_secret=identity)
    print(f"demo site on http://127.0.0.1:{args.port}/ (shop API signed: {'yes' if secrets else 'no'})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
