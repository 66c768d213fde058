from django.urls import path

from bots.console import ConsoleConsumer
from bots.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws/chat/<str:public_key>/", ChatConsumer.as_asgi()),
    path("ws/console/<int:bot_id>/", ConsoleConsumer.as_asgi()),
]
