from django.urls import path

from bots.api import nlu_views, openai_compat

openai_urlpatterns = [
    path("v1/chat/completions", openai_compat.chat_completions, name="openai-chat-completions"),
    path("v1/models", openai_compat.models_list, name="openai-models"),
]

api_urlpatterns = [
    path("api/v1/bots/<slug:slug>/parse", nlu_views.ParseView.as_view(), name="bot-parse"),
]
