"""Outgoing webhooks: conversation events signed in the Standard Webhooks format and delivered to
the URLs an admin registered, with retries, per-conversation ordering and a delivery log."""
