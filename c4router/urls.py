"""URL map: the admin, the configuration API and the routing endpoint Kamailio queries."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.permissions import IsAuthenticated

from routing.admin_limits import capacity_limits, capacity_limits_example, capacity_limits_export
from routing.admin_traffic import carrier_traffic, tenant_traffic, traffic
from routing.admin_views import route_tester
from routing.views import HealthReportView, RtjsonView, healthz, metrics_view, readyz

admin.site.site_header = "c4router"
admin.site.site_title = "c4router"
admin.site.index_title = "Routing administration"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/route-tester/", admin.site.admin_view(route_tester), name="route-tester"),
    path("admin/traffic/", admin.site.admin_view(traffic), name="traffic"),
    path(
        "admin/capacity-limits/",
        admin.site.admin_view(capacity_limits),
        name="capacity-limits",
    ),
    path(
        "admin/capacity-limits/export/",
        admin.site.admin_view(capacity_limits_export),
        name="capacity-limits-export",
    ),
    path(
        "admin/capacity-limits/example/",
        admin.site.admin_view(capacity_limits_example),
        name="capacity-limits-example",
    ),
    path(
        "admin/traffic/carrier/<int:pk>/",
        admin.site.admin_view(carrier_traffic),
        name="traffic-carrier",
    ),
    path(
        "admin/traffic/tenant/<int:pk>/",
        admin.site.admin_view(tenant_traffic),
        name="traffic-tenant",
    ),
    path("admin/", admin.site.urls),
    path("api/v1/auth/token/", obtain_auth_token, name="api-token"),
    path("api/v1/", include("routing.api.urls")),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]),
        name="api-schema",
    ),
    path(
        "api/docs/",
        login_required(
            SpectacularSwaggerView.as_view(url_name="api-schema"), login_url="admin:login"
        ),
        name="api-docs",
    ),
    path("kamailio/rtjson", RtjsonView.as_view(), name="kamailio-rtjson"),
    path("kamailio/health", HealthReportView.as_view(), name="kamailio-health"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
]
