"""HTTP actions: the bot's calls to the business's own systems. A new domain owns its table
(docs/architecture.md); intents point at an action (`bots.Intent.action`)."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from bots.models import Bot


class HttpAction(models.Model):
    """A call to the business's own system (an order lookup, a ticket), made by the worker.

    The URL, headers and body are templates over the conversation's slots and the visitor's
    verified identity (actions/templating.py); requests are signed with the Standard Webhooks
    scheme; the response is mapped into slots and a reply (actions/execution.py)."""

    class Method(models.TextChoices):
        GET = "GET", "GET"
        POST = "POST", "POST"
        PUT = "PUT", "PUT"
        PATCH = "PATCH", "PATCH"
        DELETE = "DELETE", "DELETE"

    class Identity(models.TextChoices):
        ANONYMOUS = "anonymous", _("Anyone")
        VERIFIED = "verified", _("A verified visitor (the widget's identity hash)")
        STEP_UP = "step_up", _("A verified visitor who also confirmed a one-time code")

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="http_actions")
    name = models.CharField(
        max_length=64,
        validators=[RegexValidator(r"^[a-z][a-z0-9_]*$", _("Lower-case letters, digits and _ only."))],
        help_text=_("Used in the transcript and as the tool name the LLM sees."),
    )
    description = models.CharField(max_length=500, blank=True, help_text=_("What it does, for the LLM."))
    method = models.CharField(max_length=6, choices=Method.choices, default=Method.GET)
    url = models.CharField(
        max_length=1000,
        help_text=_("e.g. https://api.shop.example/orders/{order_number}. Slots go in the path or query only."),
    )
    headers_encrypted = models.TextField(blank=True, default="", editable=False)
    body_template = models.TextField(
        blank=True, help_text=_('JSON with slots as values, e.g. {"order": "{order_number}"}. Empty for GET.')
    )
    parameters_schema = models.JSONField(
        default=dict, blank=True, help_text=_("JSON schema of the parameters (slots) the action needs.")
    )
    required_identity = models.CharField(max_length=10, choices=Identity.choices, default=Identity.ANONYMOUS)
    timeout_seconds = models.FloatField(
        default=5.0, validators=[MinValueValidator(0.5), MaxValueValidator(30.0)], help_text=_("For the whole call.")
    )
    retries = models.PositiveSmallIntegerField(
        default=1,
        validators=[MaxValueValidator(3)],
        help_text=_("Extra attempts after a connection error, a timeout or a 5xx answer."),
    )
    response_mapping = models.JSONField(
        default=dict,
        blank=True,
        help_text=_('Slots from the JSON answer, e.g. {"order_status": "$.status", "eta": "$.delivery.eta"}.'),
    )
    reply_template = models.TextField(help_text=_("The answer, e.g. Order {order_number} is {order_status}."))
    not_found_text = models.TextField(
        blank=True, help_text=_("When the system answers 404. Empty: a built-in honest sentence.")
    )
    failure_text = models.TextField(
        blank=True, help_text=_("When the system cannot be reached. Empty: a built-in honest sentence.")
    )
    rate_limit_per_minute = models.PositiveIntegerField(default=60, help_text=_("Calls per minute for the bot."))
    max_calls_per_conversation = models.PositiveIntegerField(default=10)
    offered_to_llm = models.BooleanField(
        default=False,
        db_default=False,
        help_text=_(
            "Also let the LLM call it as a tool while it writes a reply (needs a served model with tool "
            "calling; see docs/actions.md). The description and parameters schema are what it sees."
        ),
    )
    sends_step_up_code = models.BooleanField(
        default=False,
        db_default=False,
        help_text=_(
            "This action delivers the one-time code of a step-up (your endpoint sends it by SMS or e-mail to "
            "the person behind {identity_user_id}); put {step_up_code} in its body or URL. One per bot; it is "
            "never a tool and never an intent's answer (docs/actions.md)."
        ),
    )
    signing_secret_encrypted = models.TextField(blank=True, default="", editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["bot", "name"]
        constraints = [
            models.UniqueConstraint(fields=["bot", "name"], name="http_action_unique_name_per_bot"),
            models.UniqueConstraint(
                fields=["bot"], condition=models.Q(sends_step_up_code=True), name="http_action_one_step_up_sender"
            ),
        ]

    def __str__(self) -> str:
        return self.name
