from rest_framework.routers import SimpleRouter

from actions.api import views

router = SimpleRouter(trailing_slash=False)
router.register(r"api/v1/bots/(?P<bot_slug>[-a-zA-Z0-9_]+)/actions", views.HttpActionViewSet, basename="http-action")

urlpatterns = router.urls
