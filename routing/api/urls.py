"""The configuration API's routes: one router line per model (mounted at /api/v1/)."""

from __future__ import annotations

from django.urls import path
from rest_framework import routers
from rest_framework.permissions import IsAuthenticated

from routing.api import views

app_name = "routing-api"


class ApiRootView(routers.APIRootView):
    """c4router's configuration API: the same tenants, carriers, gateways, IP sources, DIDs,
    route rules and router instances as the admin, to read and change from scripts and other
    systems. Each link below lists one kind of object; every object has a history
    (.../{id}/history/), and route rules and DIDs import and export CSV files (capacity
    limits too: /api/v1/capacity-limits/import/ and export/).

    Authenticate with a token (header `Authorization: Token ...`, from POST
    /api/v1/auth/token/) or an admin login. The full reference: /api/docs/.
    """

    # Authenticated users only: DRF's own root is open to anyone.
    permission_classes = [IsAuthenticated]

    def get_view_name(self) -> str:
        return "c4router configuration API"


class Router(routers.DefaultRouter):
    APIRootView = ApiRootView


router = Router()
router.register("tenants", views.TenantViewSet)
router.register("domains", views.DomainViewSet)
router.register("pbxs", views.PbxViewSet)
router.register("carriers", views.CarrierViewSet)
router.register("gateways", views.GatewayViewSet)
router.register("ip-sources", views.IpSourceViewSet)
router.register("dids", views.DidViewSet)
router.register("route-rules", views.RouteRuleViewSet)
router.register("normalization-rules", views.NormalizationRuleViewSet)
router.register("number-lists", views.NumberListViewSet)
router.register("number-list-entries", views.NumberListEntryViewSet)
router.register("rate-decks", views.RateDeckViewSet)
router.register("rates", views.RateViewSet)
router.register("exchange-rates", views.ExchangeRateViewSet)
router.register("lnp-rules", views.LnpRuleViewSet)
router.register("ported-numbers", views.PortedNumberViewSet)
router.register("router-instances", views.RouterInstanceViewSet)
router.register("health-policies", views.HealthPolicyViewSet)
# Read-only: written by the call records ingester (routing.cdr).
router.register("cdrs", views.CallRecordViewSet)

# Not a model (the router's registry is the models' viewsets): the capacity limits of five
# kinds as one CSV file.
urlpatterns = [
    *router.urls,
    path(
        "capacity-limits/import/",
        views.CapacityLimitViewSet.as_view(
            {"post": "import_csv"}, **views.CapacityLimitViewSet.import_csv.kwargs
        ),
        name="capacity-limits-import",
    ),
    path(
        "capacity-limits/export/",
        views.CapacityLimitViewSet.as_view(
            {"get": "export_csv"}, **views.CapacityLimitViewSet.export_csv.kwargs
        ),
        name="capacity-limits-export",
    ),
]
