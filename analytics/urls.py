from django.urls import include, path

from analytics import views

app_name = "analytics"

pages = [
    path("", views.home, name="home"),
    path("conversations/", views.conversation_list, name="conversation_list"),
    path("conversations/<int:conversation_id>/", views.conversation_detail, name="conversation_detail"),
    path("conversations/<int:conversation_id>/tags/", views.conversation_tag, name="conversation_tag"),
    path("conversations/<int:conversation_id>/notes/", views.note_add, name="note_add"),
    path("conversations/<int:conversation_id>/messages/<int:message_id>/tags/", views.message_tag, name="message_tag"),
    path(
        "conversations/<int:conversation_id>/messages/<int:message_id>/suggest/",
        views.suggestion_create,
        name="suggestion_create",
    ),
    path("unrecognised/", views.unrecognised_queue, name="unrecognised"),
    path("suggestions/", views.suggestion_review, name="suggestion_review"),
    path("suggestions/<int:suggestion_id>/decide/", views.suggestion_decide, name="suggestion_decide"),
    path("metrics/", views.metrics_dashboard, name="metrics"),
    path("export/<str:kind>", views.export, name="export"),
]

urlpatterns = [
    path("analytics/", include(pages)),
]
