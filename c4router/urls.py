"""URL map: the admin, the configuration API and the routing endpoint Kamailio queries."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "c4router"
admin.site.site_title = "c4router"
admin.site.index_title = "Routing administration"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
]
