"""A CSV import says which rules and DIDs it changed: the workers patch their tables with
them instead of rebuilding (a rebuild holds two tables for a moment: at 1,000,000 prefixes
it leaves a worker about 130 MB bigger), and the patched table is the one a full build
gives. Past PATCH_MAX_ROWS changes, the import says "everything" and the workers rebuild."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest

from routing import imports
from routing.loader import build_from_database, update_from_database
from routing.models import RoutingChange, current_routing_version
from routing.models import version as version_module
from tests.api import factories
from tests.engine.test_patch import shape

pytestmark = pytest.mark.django_db

DID_HEADER = "tenant,number,match,range_end,pbx,description,enabled"


def updated(old, caplog):  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.INFO, logger="c4router.loader"):
        caplog.clear()
        table = update_from_database(old)
    return table, " ".join(r.getMessage() for r in caplog.records)


def existing(world: dict[str, Any]) -> None:
    factories.route_rule(prefix="33", targets=[world["alpha"]])
    factories.route_rule(prefix="33", weekdays="67", targets=[world["beta"]])
    factories.route_rule(prefix="1", tenant=world["acme"], targets=[world["alpha"]])
    factories.route_rule(prefix="44", targets=[world["beta2"]])
    factories.did(number="33123", pbx=world["pbx"])
    factories.did(number="33100", match="range", range_end="33199", pbx=world["pbx"])


RULES = (
    "tenant,prefix,targets,action,reject_code,reject_reason\n,33,carrier:Beta Voice,,,\n"
    "Acme,1,gateway:Beta Voice/beta-1,,,\n,49,,reject,403,Forbidden\n"
)
DIDS = f"{DID_HEADER}\nAcme,33123,,,main,new,\nAcme,4930,prefix,,main,,\n"


@pytest.mark.parametrize("mode", imports.MODES)
@pytest.mark.parametrize("what", ["rules", "dids"])
def test_an_import_patches_the_tables_like_a_full_build(world, caplog, mode, what):
    existing(world)
    if mode == imports.ADD:  # add refuses what exists: new prefixes and numbers only
        rules, dids = (
            "prefix,targets\n336,carrier:Beta Voice\n,carrier:Beta Voice\n",
            f"{DID_HEADER}\nAcme,4931,,,main,,\n",
        )
    else:
        rules, dids = RULES, DIDS
    old = build_from_database()
    if what == "rules":
        imports.import_route_rules(io.StringIO(rules), mode=mode)
    else:
        imports.import_dids(io.StringIO(dids), mode=mode)
    table, how = updated(old, caplog)
    assert "patched" in how, how
    assert shape(table) == shape(build_from_database())
    assert table.version == current_routing_version()


def test_a_dry_run_changes_nothing(world, caplog):
    existing(world)
    old = build_from_database()
    imports.import_route_rules(io.StringIO(RULES), mode=imports.REPLACE, dry_run=True)
    assert update_from_database(old) is None


def test_an_import_bigger_than_a_patch_rebuilds(world, caplog, monkeypatch):
    existing(world)
    old = build_from_database()
    monkeypatch.setattr(version_module, "PATCH_MAX_ROWS", 2)
    imports.import_route_rules(io.StringIO(RULES), mode=imports.REPLACE)  # 3 new, 2 deleted
    assert RoutingChange.objects.filter(version=current_routing_version()).get().kind == "all"
    table, how = updated(old, caplog)
    assert "built" in how
    assert shape(table) == shape(build_from_database())
