from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from bots import views as bot_views
from chatplatform.health import healthz, metrics

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    # set_language (POST /i18n/setlang/): the staff pages' language switcher (templates/_language_switcher.html).
    path("i18n/", include("django.conf.urls.i18n")),
    path("demo/", bot_views.demo_page, name="demo"),
    path("api/v1/widget/<str:public_key>/config", bot_views.widget_config, name="widget-config"),
    path("", include("conversations.openai.urls")),
    path("", include("nlu.api.urls")),
    path("", include("knowledge.api.urls")),
    path("", include("webhooks.api.urls")),
    path("", include("actions.api.urls")),
    path("", include("privacy.api.urls")),
    path("api/v1/", include("bots.api.admin_api")),
    path("api/v1/", include("analytics.api.urls")),
    path("api/v1/", include("inbox.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's init script as its own file (?script=): no inline script,
    # so the page runs under the platform's CSP (script-src 'self').
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    # django-prometheus' export behind the metrics token / address allowlist (chatplatform.health).
    *([path("metrics", metrics, name="prometheus-django-metrics")] if settings.METRICS_ENABLED else []),
    path("", include("inbox.urls")),
    path("", include("analytics.urls")),
    path("", bot_views.home, name="home"),
]
