"""Importing DIDs from CSV: lookups, ranges, duplicates, modes, and the round trip."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from routing import imports
from routing.models import Did, current_routing_version
from tests.api import factories

pytestmark = pytest.mark.django_db

HEADER = "tenant,number,match,range_end,pbx,description,enabled"


def run(text: str, **kwargs: Any) -> imports.ImportResult:
    return imports.import_dids(io.StringIO(text), **kwargs)


def failure(text: str, **kwargs: Any) -> imports.ImportFailed:
    with pytest.raises(imports.ImportFailed) as info:
        run(text, **kwargs)
    return info.value


def model_errors(**fields: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as info:
        Did(**fields).full_clean()
    return info.value.message_dict


def test_numbers_ranges_and_prefixes(world: dict[str, Any]) -> None:
    version = current_routing_version()
    result = run(
        f"{HEADER}\n"
        "Acme,33123456789,,,main,Reception,\n"
        "Acme,33123456700,range,33123456749,main,,true\n"
        "Acme,3399,prefix,,main,Lab,false\n"
    )
    assert result == imports.ImportResult(created=3)
    assert current_routing_version() == version + 1
    assert sorted(Did.objects.values_list("number", "match", "range_end", "enabled")) == [
        ("33123456700", "range", "33123456749", True),
        ("33123456789", "exact", "", True),
        ("3399", "prefix", "", False),
    ]
    assert set(Did.objects.values_list("pbx", flat=True)) == {world["pbx"].pk}
    assert Did.history.filter(history_type="+").count() == 3


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ("Nobody,331,,,main,,", "tenant", "There is no tenant named 'Nobody'."),
        (",331,,,main,,", "tenant", "This field is required."),
        ("Acme,331,,,backup,,", "pbx", "Tenant 'Acme' has no PBX named 'backup'."),
        ("Acme,331,,,,,", "pbx", "This field is required."),
        ("Globex,331,,,main,,", "pbx", "Tenant 'Globex' has no PBX named 'main'."),
        ("Acme,,,,main,,", "number", "This field cannot be blank."),
        ("Acme,+331,,,main,,", "number", None),
        ("Acme,331,everything,,main,,", "match", None),
        ("Acme,33100,range,,main,,", "range_end", None),
        ("Acme,33100,range,3319,main,,", "range_end", None),
        ("Acme,33100,range,33099,main,,", "range_end", None),
        ("Acme,33100,exact,33199,main,,", "range_end", None),
    ],
)
def test_a_bad_line_names_line_field_and_the_models_message(
    world: dict[str, Any], row: str, field: str, message: str | None
) -> None:
    error = failure(f"{HEADER}\nAcme,1,,,main,,\n{row}\n")
    assert [(e.line, e.field) for e in error.errors] == [(3, field)]
    if message is None:  # ask the model itself
        _tenant, number, match, range_end, _pbx, _d, _e = row.split(",")
        expected = model_errors(
            tenant=world["acme"],
            pbx=world["pbx"],
            number=number,
            match=match or "exact",
            range_end=range_end,
        )[field]
        message = expected[0]
    assert error.errors[0].message == message
    assert not Did.objects.exists()


def test_range_overlaps_in_the_file_and_with_the_database(world: dict[str, Any]) -> None:
    existing = factories.did(number="33100", match="range", range_end="33199", pbx=world["pbx"])
    # With the database: the model's own message, naming the range.
    error = failure(f"{HEADER}\nAcme,33150,range,33250,main,,\n")
    expected = model_errors(
        tenant=world["acme"], pbx=world["pbx"], number="33150", match="range", range_end="33250"
    )["range_end"]
    assert [(e.line, e.field, e.message) for e in error.errors] == [(2, "range_end", expected[0])]
    assert expected == [f"This range overlaps the range {existing}."]
    # Between two lines: reported on the later one, naming the earlier.
    error = failure(f"{HEADER}\nAcme,33300,range,33399,main,,\nAcme,33390,range,33400,main,,\n")
    assert [(e.line, e.message) for e in error.errors] == [
        (3, "This range overlaps the range 33300-33399.")
    ]
    # Ranges of other lengths do not overlap; adjacent ranges do not either.
    run(f"{HEADER}\nAcme,331500,range,332500,main,,\nAcme,33200,range,33299,main,,\n")
    assert Did.objects.count() == 3


def test_add_refuses_a_duplicate(world: dict[str, Any]) -> None:
    factories.did(number="33123", pbx=world["pbx"])
    error = failure(f"{HEADER}\nAcme,33123,,,main,,\n")
    assert (error.errors[0].line, error.errors[0].field) == (2, "number")
    assert error.errors[0].message == "DID with this Number and Match already exists."
    error = failure(f"{HEADER}\nAcme,44,,,main,,\nAcme,44,,,main,,\n")
    assert error.errors[0].message == "Line 2 already has this number and match."
    # Same digits as a prefix is another DID.
    run(f"{HEADER}\nAcme,33123,prefix,,main,,\n")


def test_replace_redefines_the_same_numbers(world: dict[str, Any]) -> None:
    old = factories.did(number="33123", pbx=world["pbx"], description="old")
    old_range = factories.did(number="33100", match="range", range_end="33199", pbx=world["pbx"])
    kept = factories.did(number="44", pbx=world["pbx"])
    result = run(
        f"{HEADER}\nAcme,33123,,,main,new,\nAcme,33100,range,33150,main,,\n",
        mode=imports.REPLACE,
    )
    assert (result.created, result.deleted) == (2, 2)
    assert Did.objects.get(number="33123").description == "new"
    assert Did.objects.get(number="33100").range_end == "33150"
    assert Did.objects.filter(pk=kept.pk).exists()
    assert Did.history.filter(id__in=[old.pk, old_range.pk], history_type="-").count() == 2


def test_replace_scope_replaces_each_tenants_numbers(world: dict[str, Any]) -> None:
    factories.did(number="1", pbx=world["pbx"])
    other = factories.did(number="2", tenant=world["globex"])
    result = run(f"{HEADER}\nAcme,3,,,main,,\n", mode=imports.REPLACE_SCOPE)
    assert (result.created, result.deleted) == (1, 1)
    assert set(Did.objects.values_list("number", flat=True)) == {"2", "3"}
    assert Did.objects.filter(pk=other.pk).exists()


def test_a_bad_line_in_the_middle_of_a_big_file_writes_nothing(world: dict[str, Any]) -> None:
    lines = [f"Acme,{33100000000 + n},,,main,," for n in range(20_000)]
    lines[9_998] = "Acme,33x,,,main,,"  # line 10,000
    version = current_routing_version()
    error = failure(HEADER + "\n" + "\n".join(lines))
    assert [(e.line, e.field) for e in error.errors] == [(10_000, "number")]
    assert not Did.objects.exists()
    assert current_routing_version() == version


def test_round_trip(world: dict[str, Any]) -> None:
    factories.pbx(tenant=world["globex"], name="hq")
    source = (
        f"{HEADER}\n"
        'Acme,33100,range,33199,main,"Sales, floor 2",true\n'
        "Acme,33123456789,exact,,main,,false\n"
        "Globex,44,prefix,,hq,UK,true\n"
    )
    run(source)
    out = io.StringIO()
    assert imports.export_dids(out) == 3
    assert out.getvalue() == source
    Did.objects.all().delete()
    run(out.getvalue())
    assert Did.objects.count() == 3
