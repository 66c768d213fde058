from django.urls import path

from inbox.views import inbox_page

app_name = "inbox"
urlpatterns = [path("inbox/", inbox_page, name="inbox")]
