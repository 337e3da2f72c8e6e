"""c4router's own `manage.py check --deploy` checks (Django's system check framework).

Registered by routing.apps.RoutingConfig.ready(). Deploy checks run only with --deploy:
they are about a production setup, not about the code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def check_api_token_required(app_configs: Sequence[Any] | None, **kwargs: Any) -> list[Any]:
    """C4ROUTER_API_TOKEN_REQUIRED=0 is an operator's choice, but one to see at deploy time:
    every host of C4ROUTER_API_ALLOWED_NETS may then ask for routes without a token."""
    if settings.C4ROUTER["API_TOKEN_REQUIRED"]:
        return []
    networks = ", ".join(str(net) for net in settings.C4ROUTER["API_ALLOWED_NETS"])
    return [
        checks.Warning(
            "C4ROUTER_API_TOKEN_REQUIRED is off: any host in C4ROUTER_API_ALLOWED_NETS "
            f"({networks}) may query /kamailio/rtjson without a token.",
            hint=(
                "Set C4ROUTER_API_TOKEN_REQUIRED=1 and have each Kamailio send its router "
                "instance's token (X-C4-Token), unless those networks hold nothing but your "
                "Kamailio hosts."
            ),
            id="c4router.W020",
        )
    ]
