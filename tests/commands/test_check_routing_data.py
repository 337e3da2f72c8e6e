"""manage.py check_routing_data: the rows today's validators refuse, listed, nothing written."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from routing.models import Carrier, Did, Gateway, IpSource, Pbx, RouterInstance, Tenant

pytestmark = pytest.mark.django_db


def check() -> str:
    out = StringIO()
    call_command("check_routing_data", stdout=out)
    return out.getvalue()


def test_clean_data_is_said_so() -> None:
    tenant = Tenant.objects.create(name="Acme")
    Pbx.objects.create(tenant=tenant, name="hq", host="192.0.2.10")
    assert check() == "No problem found.\n"


def test_legacy_rows_are_listed_with_their_values_escaped_and_left_as_they_are() -> None:
    acme = Tenant.objects.create(name="Acme")
    globex = Tenant.objects.create(name="Globex")
    acme_pbx = Pbx.objects.create(tenant=acme, name="hq", host="192.0.2.10")
    globex_pbx = Pbx.objects.create(tenant=globex, name="main", host="192.0.2.11")
    carrier = Carrier.objects.create(name="Alpha")
    # Saved before the rules existed: all valid then, all refused now.
    gateway = Gateway.objects.create(carrier=carrier, name="gw", host="fe80::1%x\r\nX-Injected: 1")
    wide = IpSource.objects.create(cidr="::ffff:0:0/96", carrier=carrier)
    RouterInstance.objects.create(
        name="edge1", listen_ip="127.0.0.1", api_urls="http://127.0.0.1:8000/k",
        token='quote"0123456789abcdef',
    )  # fmt: skip
    Did.objects.create(tenant=globex, pbx=globex_pbx, number="3312", match="prefix")
    exact = Did.objects.create(tenant=acme, pbx=acme_pbx, number="33123456789")

    out = StringIO()
    with pytest.raises(CommandError, match=r"^4 problem\(s\): fix them in the admin or the API\.$"):
        call_command("check_routing_data", stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4, lines
    assert lines[0].startswith(f"gateway #{gateway.pk} (Alpha / gw): host: 'fe80::1%x\\r\\nX-Inj")
    assert lines[1].startswith(f"IP source #{wide.pk} (::ffff:0:0/96 (Alpha)): cidr: '::ffff")
    assert "router instance #" in lines[2] and "token: Use printable ASCII characters" in lines[2]
    # A cross-tenant overlap, once.
    assert lines[3] == (
        f"DID #{exact.pk} (33123456789): number: This overlaps the prefix 3312* (every number "
        "starting with 3312) of tenant Globex: a number can belong to one tenant only."
    )
    # Nothing was changed.
    gateway.refresh_from_db()
    assert gateway.host == "fe80::1%x\r\nX-Injected: 1"
    assert IpSource.objects.filter(cidr="::ffff:0:0/96").exists()
