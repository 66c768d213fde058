"""The pretend customer of `make run`: its website (a static page with the widget) and its own
"orders API", a real HTTP service the demo bot's order tracking calls (an HTTP action).

The orders API checks the Standard Webhooks signature of every call when it was given the secret,
as a customer's server should (see docs/actions.md): unsigned or forged requests get 401.

    python -m chatplatform.launcher.demo_site --port 8001 --directory var/demo-site \
        --secret-file var/demo-orders-secret
"""

from __future__ import annotations

import argparse
import json
import re
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

# The shop's orders. AC-12345 is the number the bot's prompt gives as an example.
DEMO_ORDERS: dict[str, dict[str, Any]] = {
    "AC-12345": {"status": "shipped", "summary": "was shipped on 1 December and should arrive by 4 December"},
    "AC-10001": {"status": "processing", "summary": "is being packed and will be shipped tomorrow"},
    "AC-20002": {"status": "delivered", "summary": "was delivered on 28 November"},
}
_ORDER_PATH = re.compile(r"^/api/orders/([A-Za-z0-9-]{1,40})$")


class DemoSiteHandler(SimpleHTTPRequestHandler):
    secret: str = ""

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        match = _ORDER_PATH.match(self.path.split("?", 1)[0])
        if not self.path.startswith("/api/"):
            super().do_GET()
            return
        if self.secret:
            try:
                Webhook(self.secret).verify(b"", dict(self.headers.items()), json_parse=False)
            except (WebhookVerificationError, ValueError) as error:
                self._json(401, {"error": f"bad signature: {error}"})
                return
        if match is None:
            self._json(404, {"error": "no such endpoint"})
            return
        order = DEMO_ORDERS.get(match.group(1).upper())
        if order is None:
            self._json(404, {"error": "no such order"})
            return
        self._json(200, {"number": match.group(1).upper(), **order})


def demo_site_server(*, port: int, directory: Path, secret: str = "", host: str = "127.0.0.1") -> ThreadingHTTPServer:
    handler = type("BoundDemoSiteHandler", (DemoSiteHandler,), {"secret": secret})
    return ThreadingHTTPServer((host, port), partial(handler, directory=str(directory)))


def demo_site_start_in_thread(*, port: int, directory: Path, secret: str = "") -> ThreadingHTTPServer:
    """For tests: the same server in a daemon thread; call `.shutdown()` when done."""
    server = demo_site_server(port=port, directory=directory, secret=secret)
    threading.Thread(target=server.serve_forever, name="demo-site", daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--directory", type=Path, required=True)
    parser.add_argument("--secret-file", type=Path, default=None)
    args = parser.parse_args()
    secret = args.secret_file.read_text().strip() if args.secret_file and args.secret_file.exists() else ""
    server = demo_site_server(port=args.port, directory=args.directory, secret=secret)
    print(f"demo site on http://127.0.0.1:{args.port}/ (orders API signed: {'yes' if secret else 'no'})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
