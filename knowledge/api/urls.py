from django.urls import path
from rest_framework.routers import SimpleRouter

from knowledge.api import views

router = SimpleRouter(trailing_slash=False)
router.register(
    r"api/v1/bots/(?P<bot_slug>[-a-zA-Z0-9_]+)/knowledge/documents",
    views.KnowledgeDocumentViewSet,
    basename="knowledge-document",
)

urlpatterns = [
    path("api/v1/bots/<slug:slug>/knowledge/search", views.KnowledgeSearchView.as_view(), name="knowledge-search"),
    *router.urls,
]
