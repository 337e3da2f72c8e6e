"""Router instances set up by a script: create one, or bring it to the given values.

What a deployment tool (compose, Ansible, a Kubernetes job) needs to declare "Kamailio edge
X listens here and asks c4router there" without clicking through the admin, and to run
again and again with the same result. The instance's token is left alone: generated when
the instance is created, kept afterwards (the rendered config carries it to Kamailio).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from routing.models import RouterInstance

# The fields a caller may set; everything else keeps the model's default (on creation) or
# its current value. api_urls is given as a list and stored one URL per line.
FIELDS = (
    "listen_ip", "listen_port", "transport", "advertised_address", "api_urls",
    "api_timeout_ms", "http_workers", "children", "fr_timer", "fr_inv_timer",
    "failover_codes", "enabled", "description",
)  # fmt: skip


@dataclass(frozen=True)
class EnsuredInstance:
    instance: RouterInstance
    created: bool
    changed: tuple[str, ...]  # the fields this call updated (empty when created or unchanged)


def ensure_router_instance(name: str, **values: Any) -> EnsuredInstance:
    """Create the instance `name`, or update the given fields of the existing one.

    Values left out (or None) are not touched. Nothing is written when every given value is
    already in place, so that running it again neither adds a history row nor makes every
    worker rebuild its routing table. Validation is the admin's (full_clean): a bad value
    raises ValidationError and nothing is written.
    """
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise TypeError(f"not a router instance field: {', '.join(unknown)}")
    given = {field: value for field, value in values.items() if value is not None}
    if isinstance(given.get("api_urls"), Sequence) and not isinstance(given["api_urls"], str):
        given["api_urls"] = "\n".join(given["api_urls"])
    with transaction.atomic():
        instance = RouterInstance.objects.select_for_update().filter(name=name).first()
        created = instance is None
        if instance is None:
            instance = RouterInstance(name=name, **given)
            changed: tuple[str, ...] = ()
        else:
            changed = tuple(f for f, v in given.items() if getattr(instance, f) != v)
            if not changed:
                return EnsuredInstance(instance, created=False, changed=())
            for field in changed:
                setattr(instance, field, given[field])
        instance.full_clean()
        instance.save()
    return EnsuredInstance(instance, created=created, changed=changed)
