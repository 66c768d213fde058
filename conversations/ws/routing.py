from django.urls import path

from conversations.ws.console import ConsoleConsumer
from conversations.ws.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws/chat/<str:public_key>/", ChatConsumer.as_asgi()),
    path("ws/console/<int:bot_id>/", ConsoleConsumer.as_asgi()),
]
