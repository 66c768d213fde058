from rest_framework.routers import SimpleRouter

from privacy.api import views

router = SimpleRouter(trailing_slash=False)
router.register(r"api/v1/bots/(?P<bot_slug>[-a-zA-Z0-9_]+)/erasures", views.ErasureViewSet, basename="erasure")

urlpatterns = router.urls
