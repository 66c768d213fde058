"""Fixtures for driving the real widget in Chromium against the real platform.

The pieces, each a separate process or thread like in production:

- the platform: `live_server_url` (uvicorn subprocess, real ASGI app, test database, real Redis);
- the LLM: `stub_llm` (OpenAI-compatible stub), called by `celery_worker` (in-process worker threads);
- the customer's site: `customer_site`, a tiny `http.server` on another port (a different origin)
  serving one page with the embed tag;
- the browser: Debian's Chromium through Playwright's sync API (one browser per session, a fresh
  context per test, so localStorage/sessionStorage never leak between tests).

Skipped cleanly when /usr/bin/chromium (or Playwright) is missing.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip (not error) every live browser test when Chromium or Playwright is not there."""
    reason = None
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "playwright is not installed"
    if reason is None:
        return
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(str(item.fspath)).resolve().parent == here:
            item.add_marker(pytest.mark.skip(reason=reason))


# -- the customer's site ----------------------------------------------------------------------

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Acme Shop</title>
<style>
 body{{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1f2937;background:#f3f4f6}}
 header{{background:#111827;color:#fff;padding:18px 40px;font-weight:700;font-size:20px}}
 header a{{color:#d1d5db;font-weight:400;font-size:15px;margin-left:28px;text-decoration:none}}
 main{{max-width:760px;margin:40px 40px;background:#fff;border-radius:12px;padding:28px 32px}}
 h1{{margin-top:0}}
</style></head>
<body>
<header>Acme Shop <a href="#products" id="nav-products">Products</a></header>
<main><h1>Trail running shoes</h1>
<p>Lightweight, grippy and waterproof. Free shipping on orders over $50, 30-day returns.</p></main>
<script src="{src}" data-bot="{key}"{extra} async></script>
</body></html>
"""


@dataclass
class CustomerSite:
    """One HTML page on its own origin; `page_for()` sets what it embeds (per test)."""

    port: int
    html: str = "<!doctype html><title>empty</title>"
    requests: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.origin}/shop.html"

    def page_for(self, *, server_url: str, public_key: str, attrs: dict[str, str] | None = None) -> str:
        extra = "".join(f' {name}="{html.escape(value)}"' for name, value in (attrs or {}).items())
        self.html = PAGE.format(
            src=html.escape(f"{server_url}/static/widget/chatplatform.js"), key=html.escape(public_key), extra=extra
        )
        return self.url


@pytest.fixture(scope="session")
def _customer_site_server() -> Iterator[CustomerSite]:
    site = CustomerSite(port=0)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            site.requests.append(self.path)
            if self.path == "/favicon.ico":
                self.send_response(204)
                self.end_headers()
                return
            if self.path.split("?")[0] != "/shop.html":
                self.send_error(404)
                return
            body = site.html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    site.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="customer-site", daemon=True)
    thread.start()
    yield site
    server.shutdown()
    server.server_close()


@pytest.fixture
def customer_site(_customer_site_server: CustomerSite) -> CustomerSite:
    _customer_site_server.html = "<!doctype html><title>empty</title>"
    _customer_site_server.requests.clear()
    return _customer_site_server


@pytest.fixture
def site_bot(llm_bot, customer_site: CustomerSite, live_server_url: str):
    """The LLM-only bot, allowed on the customer site's origin. Saved (committed: the tests are
    transactional) before any page loads, because the live server is another process."""
    llm_bot.allowed_origins = [*llm_bot.allowed_origins, customer_site.origin]
    llm_bot.widget_title = "Acme Support"
    llm_bot.greeting = "Hi! How can I help you today?"
    llm_bot.widget_color = "#4f46e5"
    llm_bot.save()
    return llm_bot


@pytest.fixture
def shop_url(site_bot, customer_site: CustomerSite, live_server_url: str) -> Callable[..., str]:
    """shop_url(**data_attrs) -> the customer page URL embedding the widget for `site_bot`."""

    def make(**attrs: str) -> str:
        site_bot.refresh_from_db()
        return customer_site.page_for(
            server_url=live_server_url,
            public_key=site_bot.public_key,
            attrs={f"data-{k.replace('_', '-')}": v for k, v in attrs.items()},
        )

    return make


# -- the browser --------------------------------------------------------------------------------
#
# Playwright's sync API keeps an event loop marked as running in the thread that started it. In
# pytest's main thread that would make Django refuse ORM calls ("SynchronousOnlyOperation") and
# break pytest-asyncio tests that run later in the session. So Playwright lives in one dedicated
# thread for the whole session, and tests talk to it through `PW` proxies that run every call
# there; the test thread stays free for ORM assertions.


class BrowserThread:
    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="playwright")

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._executor.submit(fn, *args, **kwargs).result()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


def _is_playwright(value: Any) -> bool:
    return type(value).__module__.startswith("playwright.")


class PW:
    """A Playwright object living in the browser thread; attribute reads and calls run there."""

    __slots__ = ("_obj", "_thread")

    def __init__(self, obj: Any, thread: BrowserThread) -> None:
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_thread", thread)

    def _wrap(self, value: Any) -> Any:
        if _is_playwright(value):
            return PW(value, self._thread)
        if isinstance(value, list) and any(_is_playwright(v) for v in value):
            return [PW(v, self._thread) for v in value]
        return value

    def __getattr__(self, name: str) -> Any:
        value = self._thread.call(getattr, self._obj, name)
        if callable(value) and not _is_playwright(value):

            def method(*args: Any, **kwargs: Any) -> Any:
                args = tuple(unwrap(a) for a in args)
                kwargs = {k: unwrap(v) for k, v in kwargs.items()}
                return self._wrap(self._thread.call(value, *args, **kwargs))

            return method
        return self._wrap(value)

    def __setattr__(self, name: str, value: Any) -> None:
        self._thread.call(setattr, self._obj, name, value)

    def __repr__(self) -> str:
        return f"PW({self._obj!r})"


def unwrap(value: Any) -> Any:
    return object.__getattribute__(value, "_obj") if isinstance(value, PW) else value


@pytest.fixture(scope="session")
def browser_thread() -> Iterator[BrowserThread]:
    thread = BrowserThread()
    yield thread
    thread.shutdown()


@pytest.fixture(scope="session")
def browser(browser_thread: BrowserThread) -> Iterator[PW]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    pw = browser_thread.call(lambda: sync_api.sync_playwright().start())
    chromium = browser_thread.call(pw.chromium.launch, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    yield PW(chromium, browser_thread)
    browser_thread.call(chromium.close)
    browser_thread.call(pw.stop)


@pytest.fixture
def expect(browser_thread: BrowserThread) -> Callable[..., PW]:
    """Playwright's `expect`, run in the browser thread: expect(locator).to_have_text(...)."""
    from playwright.sync_api import expect as pw_expect

    return lambda target, *args, **kwargs: PW(
        browser_thread.call(pw_expect, unwrap(target), *args, **kwargs), browser_thread
    )


@pytest.fixture
def context(browser: PW) -> Iterator[PW]:
    ctx = browser.new_context(viewport=DESKTOP, locale="en-US", timezone_id="UTC")
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@dataclass
class PageEvents:
    """What the page reported (collected in the browser thread)."""

    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)


@pytest.fixture
def page_events() -> PageEvents:
    return PageEvents()


@pytest.fixture
def page(context: PW, page_events: PageEvents, browser_thread: BrowserThread) -> PW:
    pg = context.new_page()

    def on_console(message: Any) -> None:
        if message.type == "error":
            page_events.errors.append(message.text)

    def on_dialog(dialog: Any) -> None:  # any alert()/confirm() is an XSS signal: record, dismiss
        page_events.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def subscribe(raw: Any) -> None:
        raw.on("console", on_console)
        raw.on("pageerror", lambda exc: page_events.errors.append(str(exc)))
        raw.on("dialog", on_dialog)
        raw.on("websocket", lambda ws: page_events.websockets.append(ws.url))

    browser_thread.call(subscribe, unwrap(pg))
    return pg
