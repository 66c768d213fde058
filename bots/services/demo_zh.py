"""The demo bot's Chinese twin (issue #16): the same pretend shop and the same intents (same names, so
analytics line up), with Simplified Chinese training phrases, responses, form prompts and help-center
pages. `seed_demo` creates it next to the English bot; it joins the same agent team."""

from __future__ import annotations

from pathlib import Path

from django.db import transaction

from bots.models import AgentTeam, Bot
from bots.services.demo import DEMO_TEAM_NAME, _DemoIntent, demo_bot_get_or_create, demo_intent_create
from knowledge.services.documents import document_upload
from nlu.services.scheduling import nlu_training_data_changed

DEMO_ZH_SLUG = "acme-support-zh"

DEMO_ZH_INTENTS: list[_DemoIntent] = [
    {
        "name": "greet",
        "phrases": [
            "你好",
            "您好",
            "嗨",
            "哈喽",
            "早上好",
            "下午好",
            "晚上好",
            "在吗",
            "有人在吗？",
            "你好，请问有人吗",
            "客服你好",
        ],
        "responses": [
            (
                "您好！我是 Acme 智能助手，可以帮您查询订单、办理退货、了解营业时间。",
                ["查询订单", "营业时间", "我要退货"],
            )
        ],
    },
    {
        "name": "goodbye",
        "phrases": [
            "再见",
            "拜拜",
            "谢谢，没有别的问题了",
            "好的谢谢",
            "就这些，再见",
            "下次再聊",
            "没事了，谢谢你",
            "多谢，拜拜",
            "好的，明白了，再见",
        ],
        "responses": [("感谢您咨询 Acme，祝您生活愉快！", [])],
    },
    {
        "name": "opening_hours",
        "phrases": [
            "你们的营业时间是什么",
            "营业时间",
            "你们几点开门",
            "几点关门",
            "周日营业吗",
            "星期天开门吗",
            "门店什么时候营业",
            "客服几点上班",
            "周末营业吗",
            "你们每天几点到几点上班",
        ],
        "responses": [("我们的营业时间是周一至周六 9:00-18:00，周日 10:00-16:00。", [])],
    },
    {
        "name": "track_order",
        "phrases": [
            "我的快递到哪了",
            "查询订单",
            "订单还没到",
            "我想查一下我的包裹",
            "订单状态",
            "我的包裹发货了吗",
            "帮我查下物流",
            "我买的东西怎么还没收到",
            "什么时候能送到",
            "查一下我的订单",
            "订单到哪里了",
            "快递一直没更新",
        ],
        # As in English: only while no orders API answers, and honest that it knows nothing of the order.
        "responses": [
            (
                "抱歉，我现在无法在聊天中查询订单 {order_number}。订单状态请查看确认邮件，或者让我为您转接人工客服。",
                [],
            )
        ],
        "slots": [("order_number", "order_number", "好的！请告诉我您的订单号，格式类似 AC-12345。")],
    },
    {
        "name": "shipping_info",
        "mode": "generate",
        "phrases": [
            "运费多少钱",
            "配送要多久",
            "发货需要几天",
            "能寄到加拿大吗",
            "加急配送多少钱",
            "今天下单什么时候能到",
            "你们支持国际配送吗",
            "包邮吗",
            "满多少免运费",
            "可以寄到欧洲吗",
            "快递一般几天到",
        ],
        "responses": [],
    },
    {
        "name": "return_item",
        "phrases": [
            "怎么退货",
            "我想退货",
            "退货政策是什么",
            "可以退款吗",
            "我要退款",
            "东西不合适想退掉",
            "怎么把商品寄回去",
            "申请退货",
            "买错了能退吗",
            "退货要钱吗",
            "多少天内可以退货",
        ],
        "responses": [
            (
                "所有商品均可在 30 天内退货。请在 acme.example/returns 发起退货申请，我们会通过邮件发送预付退货面单。",
                [],
            )
        ],
    },
]

DEMO_ZH_HANDOFF_INTENT: _DemoIntent = {
    "name": "complaint",
    "phrases": [
        "我要投诉",
        "我对你们的服务非常不满意",
        "这太过分了",
        "帐篷到手就是坏的，发邮件也没人回",
        "我要投诉我的订单",
        "你们的产品太差了，马上给我退钱",
        "服务态度太差了",
        "我要找你们经理",
        "等了两个星期还没发货，太离谱了",
    ],
    "responses": [("非常抱歉给您带来不好的体验。我这就为您转接同事，帮您处理这个问题。", [])],
}

DEMO_HELP_CENTER_ZH = Path(__file__).resolve().parent.parent / "demo_help_center_zh"


@transaction.atomic
def demo_bot_zh_ensure(*, extra_origins: list[str]) -> Bot:
    """The Chinese twin with its intents, the hands-off complaint intent included, created once (a
    rerun only adds allowed origins); a new bot's NLU is retrained after commit."""
    bot, created = demo_bot_get_or_create(
        slug=DEMO_ZH_SLUG,
        defaults={
            "name": "Acme 客服",
            "language": Bot.Language.CHINESE,
            "persona": (
                "你是 Acme 户外用品的客服助手。Acme 是一家销售徒步和露营装备的网店。请用简体中文简短、礼貌地回答。"
                "如果你不了解某个订单的情况，请如实说明，并提出为访客转接人工客服。"
            ),
            "greeting": "您好！我是 Acme 智能助手，请问有什么可以帮您？",
            "fallback_text": "抱歉，我没有理解您的意思，能换个说法吗？",
            "handoff_text": "需要我为您转接人工客服吗？",
            "no_answer_text": "抱歉，我没有这方面的信息。",
            "widget_title": "Acme 客服",
        },
        extra_origins=extra_origins,
    )
    if not created:
        return bot
    for spec in DEMO_ZH_INTENTS:
        demo_intent_create(bot, spec)
    demo_intent_create(bot, DEMO_ZH_HANDOFF_INTENT, hands_off=True)
    nlu_training_data_changed(bot_id=bot.pk)
    return bot


@transaction.atomic
def demo_help_center_zh_ensure(*, bot: Bot) -> int:
    """Upload the Chinese help-center pages the bot does not have yet (by file name), as the English
    demo does; the worker parses, chunks and embeds them after commit. Returns how many were uploaded."""
    have = set(bot.knowledge_documents.values_list("filename", flat=True))
    pages = [page for page in sorted(DEMO_HELP_CENTER_ZH.iterdir()) if page.name not in have]
    for page in pages:
        document_upload(bot=bot, filename=page.name, data=page.read_bytes())
    return len(pages)


@transaction.atomic
def demo_team_zh_join(*, bot: Bot) -> AgentTeam:
    """The twin joins the English demo's agent team (made by `demo_team_ensure`), so the same agent
    answers both."""
    team, _created = AgentTeam.objects.get_or_create(name=DEMO_TEAM_NAME)
    team.bots.add(bot)
    return team
