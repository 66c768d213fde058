"""Indexes for the analyst workspace at 100k+ conversations (see docs/benchmarks.md).

Index operations only: no model changes. Partial indexes make the outcome of a conversation
(EXISTS on a handoff offer / a fallback / an unrecognised visitor message) an index probe on a small
index instead of a scan of every message; the last_activity_at indexes serve the "Recently active" sort.
"""

from django.db import migrations

INDEXES = {
    # Outcome: handoff offered / fallback reply / engaged (see analytics.selectors.outcome_expression).
    "message_conv_offer_handoff":
        "bots_message (conversation_id) WHERE role = 'bot' AND action = 'offer_handoff'",
    "message_conv_bot_fallback":
        "bots_message (conversation_id) WHERE role = 'bot' AND action = 'fallback'",
    "message_conv_user":
        "bots_message (conversation_id) WHERE role = 'user'",
    # Unrecognised visitor messages: no intent of their own, and a reply without intent / with a fallback.
    "message_conv_user_no_intent":
        "bots_message (conversation_id, id) WHERE role = 'user' AND intent = ''",
    "message_reply_fallback":
        "bots_message (reply_to_id) WHERE reply_to_id IS NOT NULL AND action = 'fallback'",
    "message_reply_no_intent":
        "bots_message (reply_to_id) WHERE reply_to_id IS NOT NULL AND intent = ''",
    # Feedback filter and thumbs counts.
    "message_conv_feedback":
        "bots_message (conversation_id, feedback) WHERE feedback <> ''",
    # Transcript list sorted by "Recently active", for everyone and per bot.
    "conv_last_activity":
        "bots_conversation (last_activity_at DESC, id DESC)",
    "conv_bot_last_activity":
        "bots_conversation (bot_id, last_activity_at DESC, id DESC)",
    # Default sort (newest) with its tie-breaker, so keyset pages are one index range scan.
    "conv_started_id":
        "bots_conversation (started_at DESC, id DESC)",
    "conv_bot_started_id":
        "bots_conversation (bot_id, started_at DESC, id DESC)",
}


class Migration(migrations.Migration):
    dependencies = [("bots", "0001_initial")]

    operations = [
        migrations.RunSQL(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}",
                          reverse_sql=f"DROP INDEX IF EXISTS {name}")
        for name, definition in INDEXES.items()
    ]
