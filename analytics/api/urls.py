"""Analyst API under /api/v1/. Included by the project's urls next to bots.api.admin_api."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from analytics.api import views

router = SimpleRouter()
router.register("conversations", views.ConversationViewSet, basename="api-conversation")
router.register("tags", views.TagViewSet, basename="api-tag")
router.register("suggestions", views.SuggestionViewSet, basename="api-suggestion")

urlpatterns = [
    *router.urls,
    path("metrics/", views.MetricsView.as_view(), name="api-metrics"),
    path("exports/messages.csv", views.MessagesCSVExportView.as_view(), name="api-export-messages-csv"),
    path("exports/conversations.csv", views.ConversationsCSVExportView.as_view(), name="api-export-conversations-csv"),
    path(
        "exports/conversations.jsonl",
        views.ConversationsJSONLExportView.as_view(),
        name="api-export-conversations-jsonl",
    ),
]
