"""The configuration API's routes: one router line per model (mounted at /api/v1/)."""

from __future__ import annotations

from rest_framework import routers
from rest_framework.permissions import IsAuthenticated

from routing.api import views

app_name = "routing-api"


class ApiRootView(routers.APIRootView):
    """The list of endpoints, for authenticated users only (DRF's root is open to anyone)."""

    permission_classes = [IsAuthenticated]


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
router.register("router-instances", views.RouterInstanceViewSet)
router.register("health-policies", views.HealthPolicyViewSet)
# Read-only: written by the call records ingester (routing.cdr).
router.register("cdrs", views.CallRecordViewSet)

urlpatterns = router.urls
