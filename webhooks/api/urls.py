from rest_framework.routers import SimpleRouter

from webhooks.api import views

router = SimpleRouter(trailing_slash=False)
router.register(
    r"api/v1/bots/(?P<bot_slug>[-a-zA-Z0-9_]+)/webhooks/endpoints",
    views.WebhookEndpointViewSet,
    basename="webhook-endpoint",
)
router.register(
    r"api/v1/bots/(?P<bot_slug>[-a-zA-Z0-9_]+)/webhooks/deliveries",
    views.WebhookDeliveryViewSet,
    basename="webhook-delivery",
)
router.register(r"api/v1/webhooks/endpoints", views.GlobalWebhookEndpointViewSet, basename="webhook-endpoint-global")
router.register(r"api/v1/webhooks/deliveries", views.GlobalWebhookDeliveryViewSet, basename="webhook-delivery-global")

urlpatterns = router.urls
