"""The analyst workspace at 100k conversations: list, filters, detail, metrics, queue, exports.

Starts its own embedded PostgreSQL in a temp dir (unless DATABASE_URL is set), migrates, generates
N conversations with COPY (3 bots, 90 days, 2-8 messages each, ~40 intents, fallbacks, handoff offers,
feedback, CSAT, timings, some e-mails/phones in the text, tags on a few percent), runs ANALYZE, then
times every page with Django's test Client (warm; p50/p95 over --reps requests) as an analyst
assigned to one bot and as an admin, counts queries per page, and streams exports.

    python bench/analytics_scale.py                      # 100k conversations, writes docs/benchmarks.md
    python bench/analytics_scale.py --smoke              # 300 conversations, 1 rep, no doc write (CI)
    python bench/analytics_scale.py --save-json var/bench/after.json --baseline var/bench/before.json

`--baseline` adds the p95 of an earlier run (e.g. before the indexes) next to each row.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import percentile, setup_django_with_own_database, stop_own_redis, table, write_section  # noqa: E402

SECTION = "Analyst workspace at 100k conversations"

# --- Synthetic but realistic data ---------------------------------------------------------------

BOTS = [("shop", "Acme Shop"), ("bank", "Northwind Bank"), ("travel", "Globetrek Travel")]

INTENTS: dict[str, list[str]] = {
    "order_status": [
        "Where is my order {order}?",
        "my order {order} hasn't arrived yet",
        "can you track order {order} please",
        "any update on my order?",
    ],
    "cancel_order": ["I want to cancel my order {order}", "please cancel order {order}", "how do I cancel an order"],
    "return_item": [
        "how do I return a jacket",
        "I'd like to return the shoes I bought",
        "return policy for sale items?",
    ],
    "refund_status": ["when will I get my refund", "refund for order {order} still missing", "where is my refund?"],
    "shipping_cost": ["how much is shipping to Canada", "is shipping free over 50 dollars?", "shipping costs"],
    "delivery_time": ["how long does delivery take", "will it arrive before Friday?", "delivery time to Berlin"],
    "change_address": [
        "I need to change my delivery address",
        "wrong address on order {order}",
        "update shipping address to {street}",
    ],
    "payment_methods": ["do you accept PayPal", "can I pay with Apple Pay?", "which payment methods do you take"],
    "payment_failed": ["my payment failed", "card was declined at checkout", "payment error when ordering"],
    "discount_code": ["my discount code doesn't work", "is there a promo code?", "coupon SAVE10 invalid"],
    "product_availability": [
        "is the blue jacket in stock",
        "when will size M be available again",
        "do you have this in black?",
    ],
    "size_guide": ["what size should I order", "do your shoes run small?", "size chart for jeans"],
    "warranty": ["what does the warranty cover", "my headphones broke after 3 months", "warranty claim"],
    "store_hours": ["what time do you open", "are you open on Sunday?", "store opening hours"],
    "store_location": ["where is your nearest store", "do you have a shop in Lyon?", "store address"],
    "account_login": ["I can't log in", "forgot my password", "login not working on the app"],
    "account_delete": ["delete my account", "please remove my data", "how to close my account"],
    "newsletter": ["unsubscribe me from emails", "stop sending me newsletters", "sign up for the newsletter"],
    "gift_card": ["how do I use a gift card", "gift card balance", "can I buy a gift card online?"],
    "invoice": ["I need an invoice for order {order}", "send me the receipt", "VAT invoice please"],
    "balance": ["what's my balance", "how much money is in my checking account", "show account balance"],
    "transfer": ["send 200 euros to my savings", "how do I make a transfer", "international transfer fees"],
    "card_lost": ["I lost my card", "my debit card was stolen", "block my card please"],
    "card_activate": ["how to activate my new card", "activate card", "new card not working"],
    "loan_rates": ["what are your loan rates", "mortgage interest rate?", "personal loan conditions"],
    "open_account": ["I want to open an account", "how to open a savings account", "requirements for a new account"],
    "atm_fees": ["do you charge ATM fees abroad", "withdrawal fee", "free ATMs near me?"],
    "pin_reset": ["I forgot my PIN", "reset my card PIN", "change PIN code"],
    "statement": ["download my bank statement", "statement for March", "where can I find my statements"],
    "fraud_report": ["there is a payment I don't recognise", "suspicious transaction on my card", "report fraud"],
    "book_flight": ["book a flight to Rome", "flights to Tokyo next month", "I need a ticket to Madrid on {date}"],
    "cancel_booking": ["cancel my booking {order}", "I need to cancel my hotel", "cancellation fee?"],
    "baggage": ["how much luggage can I bring", "extra baggage fee", "my suitcase is missing"],
    "check_in": ["when does online check-in open", "I can't check in", "check-in at the airport"],
    "hotel_booking": ["book a hotel in Paris", "hotel near the station", "room for two nights"],
    "visa_info": ["do I need a visa for Japan", "visa requirements for the US", "ESTA application"],
    "flight_status": ["is my flight delayed", "status of flight LH{order}", "gate change?"],
    "seat_selection": ["can I choose my seat", "window seat please", "seat upgrade cost"],
    "contact_human": ["talk to a human", "I want to speak to an agent", "real person please"],
    "greeting": ["hi", "hello there", "good morning", "hey"],
}
INTENT_NAMES = list(INTENTS)
# Zipf-like popularity: a few intents dominate, a long tail is rare.
INTENT_WEIGHTS = [1.0 / (i + 1) ** 0.9 for i in range(len(INTENT_NAMES))]
OUT_OF_SCOPE = [
    "blorp the frobnicator",
    "what's the meaning of life",
    "can you sing a song",
    "asdfgh",
    "do you like pizza",
    "who won the game last night",
    "tell me a joke",
    "is it going to rain tomorrow",
    "my cat ate my homework",
    "why is the sky blue",
    "what is quantum computing",
    "recommend a movie",
    "how old are you",
    "are you a robot?",
    "the app is weird",
    "hmm",
    "ok but why",
    "我的订单在哪里",
    "退货怎么办",
    "can I pay in bitcoin or dogecoin",
    "your website is broken",
]
REPLIES = {
    "utter_template": [
        "Sure, here is what I found.",
        "You can do that in your account settings.",
        "Our team usually replies within 24 hours.",
        "Here's the link you need.",
        "That's done. Anything else?",
    ],
    "generate": [
        "Thanks for asking! Based on our help centre, orders ship within 2 business days and you "
        "get a tracking link by e-mail.",
        "I checked our policies: returns are free within 30 days if the item is unused.",
        "Good question. Most customers find the answer in the FAQ, but here is a short summary for you.",
    ],
    "ask_slot": [
        "Could you give me your order number?",
        "Which e-mail address did you use?",
        "What date would you like to travel?",
    ],
    "fallback": ["Sorry, I didn't understand that. Could you rephrase?"],
    "offer_handoff": ["Would you like me to connect you with a person?"],
    "greet": ["Hi! How can I help you today?"],
}
FIRST = ["jane", "li.wei", "marco", "sofia", "ahmed", "olga", "kenji", "maria", "tom", "fatima"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net"]
TAGS = ["billing", "bug", "angry-customer", "good-example", "training-data", "escalate", "vip", "wrong-intent"]
RARE_WORD = "chargeback"  # ~0.05 % of visitor messages
COMMON_WORD = "order"  # in a large share of messages


def _pii(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.5:
        return f" my email is {rng.choice(FIRST)}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"
    if r < 0.85:
        return f" call me on +1 (555) {rng.randint(100, 999)}-{rng.randint(1000, 9999)}"
    return (
        f" card {rng.randint(4000, 4999)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"
    )


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        order=f"#{rng.randint(100000, 999999)}",
        street=f"{rng.randint(1, 200)} Main Street",
        date=f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
    )


class _Copy:
    """Rows in COPY text format, written to a buffer and flushed in one COPY per table."""

    def __init__(self) -> None:
        self.buf = io.StringIO()
        self.rows = 0

    @staticmethod
    def _cell(v: Any) -> str:
        if v is None:
            return r"\N"
        if isinstance(v, datetime):
            return v.isoformat()
        s = str(v)
        return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")

    def add(self, *values: Any) -> None:
        self.buf.write("\t".join(self._cell(v) for v in values))
        self.buf.write("\n")
        self.rows += 1


CONV_COLS = (
    "id, bot_id, visitor_id, user_id, channel, status, tracker, locale, csat, started_at, last_activity_at, ended_at"
)
MSG_COLS = (
    "id, conversation_id, seq, role, text, client_id, reply_to_id, intent, confidence, entities, action, "
    "model, prompt_tokens, completion_tokens, time_to_first_token_ms, total_time_ms, quick_replies, "
    "citations, feedback, feedback_comment, created_at"
)


def generate(
    *,
    conversations: int,
    bot_slugs: list[tuple[str, str]] | None = None,
    days: int = 90,
    seed: int = 42,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Create the bots (with their intents) and `conversations` conversations via COPY. Returns stats."""
    from django.db import connection, transaction

    from analytics.models import Tag
    from bots.models import Bot, Intent

    rng = random.Random(seed)
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    bots = []
    for slug, name in bot_slugs or BOTS:
        bot, _ = Bot.objects.get_or_create(slug=slug, defaults={"name": name})
        bots.append(bot)
        Intent.objects.bulk_create([Intent(bot=bot, name=n) for n in INTENT_NAMES], ignore_conflicts=True)
    tags = [Tag.objects.get_or_create(name=n)[0] for n in TAGS]

    with connection.cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM bots_conversation")
        conv_id = cur.fetchone()[0]
        cur.execute("SELECT coalesce(max(id), 0) FROM bots_message")
        msg_id = cur.fetchone()[0]

    convs, msgs, ctags, mtags = _Copy(), _Copy(), _Copy(), _Copy()
    bot_weights = [0.5, 0.3, 0.2][: len(bots)] or [1.0]
    span = days * 86400
    for _ in range(conversations):
        conv_id += 1
        bot = rng.choices(bots, weights=bot_weights)[0]
        t = now - timedelta(seconds=rng.random() * span)
        conv_start = t
        n_turns = rng.choices((1, 2, 3, 4), weights=(35, 35, 20, 10))[0]
        fallbacks = 0
        handoff = False
        seq = 0
        locale = "zh-hans" if rng.random() < 0.08 else "en"
        conv_msg_ids = []
        for _turn in range(n_turns):
            seq += 1
            msg_id += 1
            user_id_msg = msg_id
            if rng.random() < 0.78:
                intent = rng.choices(INTENT_NAMES, weights=INTENT_WEIGHTS)[0]
                text = _fill(rng.choice(INTENTS[intent]), rng)
                confidence = round(rng.uniform(0.55, 0.99), 3)
            else:
                intent, confidence = "", None
                text = rng.choice(OUT_OF_SCOPE)
            if rng.random() < 0.06:
                text += _pii(rng)
            if rng.random() < 0.0005:
                text += f" I will file a {RARE_WORD} with my bank"
            msgs.add(
                msg_id,
                conv_id,
                seq,
                "user",
                text,
                None,
                None,
                intent,
                confidence,
                "[]",
                "",
                "",
                None,
                None,
                None,
                None,
                "{}",
                "[]",
                "",
                "",
                t,
            )
            conv_msg_ids.append(msg_id)
            t += timedelta(seconds=rng.uniform(0.5, 4))
            # The bot's reply
            seq += 1
            msg_id += 1
            ttft = total = model = pt = ct = None
            if not intent:
                fallbacks += 1
                if fallbacks >= 2 and not handoff:
                    action, handoff = "offer_handoff", True
                else:
                    action = "fallback" if rng.random() < 0.6 else "generate"
            elif intent == "contact_human":
                action, handoff = "offer_handoff", True
            elif intent == "greeting":
                action = "greet"
            else:
                action = rng.choices(("utter_template", "generate", "ask_slot"), weights=(55, 30, 15))[0]
            reply = rng.choice(REPLIES[action])
            if action == "generate":
                model, pt, ct = "Qwen2.5-7B-Instruct", rng.randint(300, 1500), rng.randint(20, 200)
                ttft = int(rng.lognormvariate(5.5, 0.4))
                total = ttft + int(rng.uniform(300, 3000))
            else:
                total = int(rng.uniform(15, 120))
            feedback = rng.choices(("", "up", "down"), weights=(90, 7, 3))[0]
            comment = "wrong answer" if feedback == "down" and rng.random() < 0.3 else ""
            msgs.add(
                msg_id,
                conv_id,
                seq,
                "bot",
                reply,
                None,
                user_id_msg,
                intent,
                confidence,
                "[]",
                action,
                model or "",
                pt,
                ct,
                ttft,
                total,
                "{}",
                "[]",
                feedback,
                comment,
                t,
            )
            conv_msg_ids.append(msg_id)
            t += timedelta(seconds=rng.uniform(3, 60))
        status = "queued" if handoff and rng.random() < 0.4 else rng.choices(("resolved", "bot"), weights=(7, 3))[0]
        csat = rng.choices((1, 2, 3, 4, 5), weights=(8, 7, 15, 35, 35))[0] if rng.random() < 0.15 else None
        user_id = f"{rng.choice(FIRST)}@{rng.choice(DOMAINS)}" if rng.random() < 0.2 else ""
        convs.add(
            conv_id,
            bot.pk,
            f"v{rng.getrandbits(48):012x}",
            user_id,
            "widget" if rng.random() < 0.9 else "api",
            status,
            "{}",
            locale,
            csat,
            conv_start,
            t,
            t if status == "resolved" else None,
        )
        if rng.random() < 0.03:
            for tag in rng.sample(tags, rng.randint(1, 2)):
                ctags.add(conv_id, tag.pk, None, t)
        if rng.random() < 0.01:
            mtags.add(rng.choice(conv_msg_ids), rng.choice(tags).pk, None, t)
    gen_seconds = time.perf_counter() - started

    with transaction.atomic(), connection.cursor() as cur:
        raw = cur.cursor if hasattr(cur, "cursor") else cur
        for table_name, cols, data in (
            ("bots_conversation", CONV_COLS, convs),
            ("bots_message", MSG_COLS, msgs),
            ("analytics_conversationtag", "conversation_id, tag_id, created_by_id, created_at", ctags),
            ("analytics_messagetag", "message_id, tag_id, created_by_id, created_at", mtags),
        ):
            if not data.rows:
                continue
            with raw.copy(f"COPY {table_name} ({cols}) FROM STDIN") as copy:
                copy.write(data.buf.getvalue())
        for table_name in ("bots_conversation", "bots_message"):
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table_name}', 'id'), (SELECT max(id) FROM {table_name}))"
            )
    copy_seconds = time.perf_counter() - started - gen_seconds
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")  # what autovacuum does soon after a bulk load
    return {
        "conversations": convs.rows,
        "messages": msgs.rows,
        "conversation_tags": ctags.rows,
        "message_tags": mtags.rows,
        "python_s": gen_seconds,
        "copy_s": copy_seconds,
        "total_s": time.perf_counter() - started,
        "bots": bots,
    }


# --- Measuring ----------------------------------------------------------------------------------


def setup_django() -> object | None:
    return setup_django_with_own_database(
        prefix="analytics-bench-pg-",
        extra_env={
            "DEBUG": "0",
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
        },
    )


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def time_get(client: Any, url: str, reps: int, *, cold: bool = False) -> dict[str, Any]:
    """Warm requests; `cold=True` bypasses the aggregate cache (the first view of a dashboard)."""
    from django.db import connection
    from django.test import override_settings

    sql: list[str] = []

    def capture(execute, query, params, many, context):
        sql.append(query)
        return execute(query, params, many, context)

    with connection.execute_wrapper(capture), override_settings(**({"ANALYTICS_CACHE_SECONDS": 0} if cold else {})):
        response = client.get(url)  # the warm-up request, counted (like CaptureQueriesContext)
    assert response.status_code == 200, (url, response.status_code)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        if cold:
            with override_settings(ANALYTICS_CACHE_SECONDS=0):
                response = client.get(url)
        else:
            response = client.get(url)
        _ = response.content
        times.append((time.perf_counter() - t0) * 1000)
    return {"p50": percentile(times, 0.5), "p95": percentile(times, 0.95), "queries": len(sql), "sql": sql}


def time_export(client: Any, url: str) -> dict[str, Any]:
    rss0 = _rss_kb()
    maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = rss0
    t0 = time.perf_counter()
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    ttfb = None
    nbytes = lines = 0
    for i, chunk in enumerate(response.streaming_content):
        if ttfb is None:
            ttfb = (time.perf_counter() - t0) * 1000
        nbytes += len(chunk)
        lines += chunk.count(b"\n")
        if i % 500 == 0:
            peak = max(peak, _rss_kb())
    total = time.perf_counter() - t0
    peak = max(peak, _rss_kb())
    return {
        "ttfb_ms": ttfb or 0.0,
        "total_ms": total * 1000,
        "rows": lines,
        "bytes": nbytes,
        "rows_per_s": lines / total if total else 0.0,
        "rss_growth_mb": (peak - rss0) / 1024,
        "maxrss_growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - maxrss0) / 1024,
    }


def scenarios(bot_slug: str, intent: str, tag: str, today: Any) -> list[tuple[str, str]]:
    week_ago = (today - timedelta(days=7)).isoformat()
    return [
        ("list: no filter", "/analytics/conversations/"),
        ("list: bot", f"/analytics/conversations/?bot={bot_slug}"),
        ("list: date range (7 days)", f"/analytics/conversations/?date_from={week_ago}&date_to={today.isoformat()}"),
        ("list: intent", f"/analytics/conversations/?intent={intent}"),
        ("list: outcome=fallback", "/analytics/conversations/?outcome=fallback"),
        ("list: outcome=handoff", "/analytics/conversations/?outcome=handoff"),
        ("list: feedback=down", "/analytics/conversations/?feedback=down"),
        ("list: csat=1", "/analytics/conversations/?csat=1"),
        ("list: tag", f"/analytics/conversations/?tag={tag}"),
        ("list: search rare word", f"/analytics/conversations/?q={RARE_WORD}"),
        ("list: search common word", f"/analytics/conversations/?q={COMMON_WORD}"),
        ("list: sort=oldest", "/analytics/conversations/?sort=oldest"),
        ("list: sort=active", "/analytics/conversations/?sort=active"),
    ]


def run(args: argparse.Namespace) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    from analytics.services import bot_assignment_create
    from bots.models import Conversation

    setup_test_environment()
    stats = generate(conversations=args.conversations)
    print(
        f"generated {stats['conversations']} conversations, {stats['messages']} messages in "
        f"{stats['total_s']:.1f} s (python {stats['python_s']:.1f} s, COPY {stats['copy_s']:.1f} s, "
        f"VACUUM ANALYZE {stats['total_s'] - stats['python_s'] - stats['copy_s']:.1f} s)",
        flush=True,
    )
    bot = stats["bots"][0]
    User = get_user_model()
    analyst = User.objects.create(username="bench-analyst", password="!")
    analyst.groups.add(Group.objects.get(name="analyst"))
    bot_assignment_create(user=analyst, bot=bot)
    admin = User.objects.create(username="bench-admin", password="!")
    admin.groups.add(Group.objects.get(name="admin"))

    today = timezone.localdate()
    detail_id = Conversation.objects.filter(bot=bot).order_by("-started_at").values_list("pk", flat=True)[10]
    rows: list[dict[str, Any]] = []
    for who, user in (("analyst", analyst), ("admin", admin)):
        client = Client()
        client.force_login(user)
        pages = scenarios(bot.slug, "refund_status", "billing", today)
        pages += [
            ("detail", f"/analytics/conversations/{detail_id}/"),
            ("metrics page", "/analytics/metrics/"),
            (
                "metrics page: bot, 30 days",
                f"/analytics/metrics/?bot={bot.slug}&date_from={(today - timedelta(days=30)).isoformat()}",
            ),
            ("GET /api/v1/metrics/", "/api/v1/metrics/"),
            ("unrecognised queue", "/analytics/unrecognised/"),
        ]
        aggregate = ("metrics", "GET /api/v1/metrics/", "unrecognised queue")
        for name, url in pages:
            variants = [(name, False)]
            if name.startswith(aggregate):
                variants = [(f"{name} (cache miss)", True), (f"{name} (cached)", False)]
            for label, cold in variants:
                r = time_get(client, url, args.reps, cold=cold)
                rows.append({"user": who, "page": label, "base": name, "url": url, **r})
                print(
                    f"  {who:8} {label:44} p50 {r['p50']:8.1f} ms  p95 {r['p95']:8.1f} ms  {r['queries']} queries",
                    flush=True,
                )
        # Deep paging with the keyset cursor: follow 49 "next" links, then time page 50.
        import re as _re

        url = "/analytics/conversations/"
        for _ in range(49):
            html = client.get(url).content.decode()
            m = _re.search(r'href="\?([^"]*after=[^"]+)"', html)
            if not m:
                break
            url = "/analytics/conversations/?" + m.group(1).replace("&amp;", "&")
        r = time_get(client, url, args.reps)
        rows.append({"user": who, "page": "list: page 50 (keyset cursor)", "url": url, **r})
        print(
            f"  {who:8} {'list: page 50':32} p50 {r['p50']:8.1f} ms  p95 {r['p95']:8.1f} ms  {r['queries']} queries",
            flush=True,
        )

    client = Client()
    client.force_login(analyst)
    since = (today - timedelta(days=30)).isoformat()
    exports = []
    for kind in ("messages.csv", "conversations.jsonl"):
        url = f"/analytics/export/{kind}?bot={bot.slug}&date_from={since}"
        r = time_export(client, url)
        exports.append({"kind": kind, **r})
        print(
            f"  export {kind}: ttfb {r['ttfb_ms']:.0f} ms, total {r['total_ms']:.0f} ms, {r['rows']} lines, "
            f"{r['rows_per_s']:.0f} lines/s, RSS +{r['rss_growth_mb']:.1f} MB",
            flush=True,
        )
    for s in ("bots",):
        stats.pop(s)
    return {"stats": stats, "rows": rows, "exports": exports, "reps": args.reps}


def render(result: dict[str, Any], baseline: dict[str, Any] | None, args: argparse.Namespace) -> str:
    base = {(r["user"], r["page"]): r for r in (baseline or {}).get("rows", [])}
    headers = ["user", "page", "p50 ms", "p95 ms", "queries"]
    if baseline:
        headers = ["user", "page", "p95 ms without", "p95 ms with", "p50 ms with", "queries without", "queries with"]
    out = []
    for r in result["rows"]:
        if baseline:
            b = base.get((r["user"], r["page"])) or base.get((r["user"], r.get("base", r["page"])), {})
            out.append(
                [
                    r["user"],
                    r["page"],
                    f"{b['p95']:.0f}" if b else "-",
                    f"{r['p95']:.0f}",
                    f"{r['p50']:.0f}",
                    b.get("queries", "-"),
                    r["queries"],
                ]
            )
        else:
            out.append([r["user"], r["page"], f"{r['p50']:.0f}", f"{r['p95']:.0f}", r["queries"]])
    main = table(headers, out)
    bexp = {e["kind"]: e for e in (baseline or {}).get("exports", [])}
    ex_rows = []
    for e in result["exports"]:
        b = bexp.get(e["kind"])
        ex_rows.append(
            [
                e["kind"],
                f"{e['ttfb_ms']:.0f}" + (f" (without: {b['ttfb_ms']:.0f})" if b else ""),
                f"{e['total_ms']:.0f}" + (f" (without: {b['total_ms']:.0f})" if b else ""),
                e["rows"],
                f"{e['rows_per_s']:.0f}",
                f"{e['rss_growth_mb']:.1f}",
            ]
        )
    exp = table(
        ["export (analyst, 1 bot, 30 days)", "first byte ms", "total ms", "lines", "lines/s", "peak RSS growth MB"],
        ex_rows,
    )
    return main, exp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=7, help="timed requests per page (after one warm-up)")
    parser.add_argument("--smoke", action="store_true", help="300 conversations, 1 rep, no doc write")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    parser.add_argument("--save-json", type=Path, help="write the raw results here")
    parser.add_argument("--baseline", type=Path, help="an earlier --save-json run to compare with")
    parser.add_argument("--render-only", type=Path, help="no run: render a --save-json result (with --baseline)")
    parser.add_argument("--notes", type=Path, help="markdown appended to the doc section (what changed)")
    args = parser.parse_args()
    if args.smoke:
        args.conversations, args.reps, args.no_write = 300, 1, True

    if args.render_only:
        result = json.loads(args.render_only.read_text())
    else:
        server = setup_django()
        try:
            result = run(args)
        finally:
            if server is not None:
                server.cleanup()
            stop_own_redis()
    baseline = json.loads(args.baseline.read_text()) if args.baseline else None
    if args.save_json and not args.render_only:
        args.save_json.parent.mkdir(parents=True, exist_ok=True)
        args.save_json.write_text(json.dumps(result, indent=1, default=str))
    main_table, export_table = render(result, baseline, args)
    print(main_table)
    print(export_table)
    if args.no_write:
        return
    s = result["stats"]
    compare_note = (
        '"without" = the same run before the indexes and query rewrites listed below; "with" = after.'
        if baseline
        else ""
    )
    cmd = f"python bench/analytics_scale.py --conversations {s['conversations']} --reps {result['reps']}"
    body = f"""Produced by `bench/analytics_scale.py` (reproduce: `{cmd}`; CI smoke: `--smoke`).
Embedded PostgreSQL 18 in a temp dir, {s["conversations"]:,} conversations / {s["messages"]:,} messages over
90 days across 3 bots (50/30/20 %), ~40 intents (Zipf-like), ~22 % unrecognised visitor messages, handoff
offers after two fallbacks, feedback on ~10 % of bot replies, CSAT on 15 % of conversations, e-mails/phones/cards
in ~6 % of visitor messages, tags on 3 % of conversations. Data generation: {s["total_s"]:.0f} s
(Python {s["python_s"]:.0f} s, COPY {s["copy_s"]:.0f} s, VACUUM ANALYZE {s["total_s"] - s["python_s"] - s["copy_s"]:.0f} s).

Warm requests through Django's test Client in one process (no network), {result["reps"]} timed requests per
page after one warm-up; 2 shared cores. The analyst is assigned to the biggest bot (~50 % of the data);
the admin sees all three bots. "queries" = SQL statements per request (counted with `connection.execute_wrapper`, incl.
session and permission lookups).
{compare_note}

{main_table}

Exports stream (server-side cursor, 2000 rows per fetch); peak RSS growth of the process while the
whole body is consumed shows memory stays flat:

{export_table}
"""
    if args.notes:
        body += "\n" + args.notes.read_text()
    write_section(SECTION, body)


if __name__ == "__main__":
    main()
