from django.urls import path

from nlu.api import views

urlpatterns = [
    path("api/v1/bots/<slug:slug>/parse", views.ParseView.as_view(), name="bot-parse"),
]
