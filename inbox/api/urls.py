"""The inbox API and the handoff trigger, under /api/v1/ (one include in chatplatform/urls.py)."""

from django.urls import path

from inbox.api import views

_conversation = "inbox/conversations/<int:conversation_id>"

urlpatterns = [
    path("inbox/conversations", views.InboxConversationListView.as_view(), name="api-inbox-conversations"),
    path(_conversation, views.InboxConversationDetailView.as_view(), name="api-inbox-conversation"),
    path(f"{_conversation}/claim", views.InboxClaimView.as_view(), name="api-inbox-claim"),
    path(f"{_conversation}/return", views.InboxReturnView.as_view(), name="api-inbox-return"),
    path(f"{_conversation}/resolve", views.InboxResolveView.as_view(), name="api-inbox-resolve"),
    path(f"{_conversation}/reopen", views.InboxReopenView.as_view(), name="api-inbox-reopen"),
    path(f"{_conversation}/transfer", views.InboxTransferView.as_view(), name="api-inbox-transfer"),
    path(f"{_conversation}/messages", views.InboxMessagesView.as_view(), name="api-inbox-messages"),
    path(f"{_conversation}/notes", views.InboxNotesView.as_view(), name="api-inbox-notes"),
    path(
        "bots/<slug:slug>/conversations/<int:conversation_id>/handoff",
        views.HandoffTriggerView.as_view(),
        name="api-bot-conversation-handoff",
    ),
]
