from django.contrib import admin
from django.urls import path

from bots import views as bot_views
from bots.api.urls import api_urlpatterns, openai_urlpatterns
from chatplatform.health import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("demo/", bot_views.demo_page, name="demo"),
    *openai_urlpatterns,
    *api_urlpatterns,
    path("", bot_views.home, name="home"),
]
