"""The project's URLs plus the analytics routes, until chatplatform/urls.py includes them itself.

Once the lead wires them, nothing is added twice: each block is only added when missing.
"""

from django.urls import Resolver404, include, path, resolve
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from chatplatform.urls import urlpatterns as project_patterns


def _missing(url: str) -> bool:
    try:
        resolve(url, urlconf="chatplatform.urls")
    except Resolver404:
        return True
    return False


urlpatterns = list(project_patterns)
if _missing("/analytics/conversations/"):
    urlpatterns.append(path("", include("analytics.urls")))
if _missing("/api/v1/bots/"):
    urlpatterns.append(path("api/v1/", include("bots.api.admin_api")))
if _missing("/api/v1/conversations/"):
    urlpatterns.append(path("api/v1/", include("analytics.api.urls")))
if _missing("/api/schema/"):
    urlpatterns += [
        path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
        path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    ]
