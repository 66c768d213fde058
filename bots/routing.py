from django.urls import path

from bots.consumers import ChatConsumer

websocket_urlpatterns = [
    path("ws/chat/<str:public_key>/", ChatConsumer.as_asgi()),
]
