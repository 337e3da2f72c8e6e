"""Importing number list entries from CSV: lists by name, duplicates, modes, history, the
round trip, and what the routing table makes of it."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from routing import imports
from routing.loader import build_from_database, update_from_database
from routing.models import NumberList, NumberListEntry, RoutingChange, current_routing_version

pytestmark = pytest.mark.django_db

HEADER = "list,number,match,range_end,comment"


@pytest.fixture
def lists(db: Any) -> dict[str, NumberList]:
    return {
        "fraud": NumberList.objects.create(name="Fraud"),
        "abusers": NumberList.objects.create(name="Abusers", side="caller"),
    }


def run(text: str, **kwargs: Any) -> imports.ImportResult:
    return imports.import_list_entries(io.StringIO(text), **kwargs)


def failure(text: str, **kwargs: Any) -> imports.ImportFailed:
    with pytest.raises(imports.ImportFailed) as info:
        run(text, **kwargs)
    return info.value


def rows() -> list[tuple[str, str, str, str, str]]:
    return sorted(
        NumberListEntry.objects.values_list(
            "number_list__name", "number", "match", "range_end", "comment"
        )
    )


def test_entries_with_their_comments(lists: dict[str, NumberList]) -> None:
    version = current_routing_version()
    result = run(
        f"{HEADER}\n"
        "Fraud,882,prefix,,International networks\n"
        "Fraud,33140000000,range,33140009999,\n"
        'Abusers,33612345678,,,"robocalls, ticket 7"\n'
    )
    assert result == imports.ImportResult(created=3)
    assert current_routing_version() == version + 1
    assert rows() == [
        ("Abusers", "33612345678", "exact", "", "robocalls, ticket 7"),
        ("Fraud", "33140000000", "range", "33140009999", ""),
        ("Fraud", "882", "prefix", "", "International networks"),
    ]
    # The workers are told which lists changed: they re-read those, patch the rest.
    changes = RoutingChange.objects.filter(version=version + 1)
    assert sorted(changes.values_list("kind", "object_id")) == [
        ("list", lists["fraud"].pk),
        ("list", lists["abusers"].pk),
    ]
    history = NumberListEntry.history.filter(number="882").get()
    assert history.history_type == "+" and history.comment == "International networks"


def test_bad_lines_name_the_line_and_the_field_and_nothing_is_written(
    lists: dict[str, NumberList],
) -> None:
    error = failure(
        f"{HEADER}\n"
        "Fraud,882,prefix,,\n"
        "Nobody,33,prefix,,\n"
        "Fraud,+33,,,\n"
        "Fraud,3314,range,33,\n"
        "Fraud,882,prefix,,again\n"
        ",33,,,\n"
    )
    found = {(e.line, e.field): e.message for e in error.errors}
    assert found[(3, "list")] == "There is no number list named 'Nobody'."
    assert "Enter digits only" in found[(4, "number")]
    assert found[(5, "range_end")] == "The last number must have as many digits as the first."
    assert found[(6, "number")] == "Line 2 already has this number and match."
    assert found[(7, "list")] == "This field is required."
    assert not NumberListEntry.objects.exists()


def test_add_refuses_an_entry_the_list_already_has(lists: dict[str, NumberList]) -> None:
    run(f"{HEADER}\nFraud,882,prefix,,\n")
    error = failure(f"{HEADER}\nFraud,883,prefix,,\nFraud,882,prefix,,\nAbusers,882,prefix,,\n")
    assert [(e.line, e.field) for e in error.errors] == [(3, "number")]
    assert "already exists" in error.errors[0].message
    assert NumberListEntry.objects.count() == 1


def test_replace_and_replace_scope(lists: dict[str, NumberList]) -> None:
    run(f"{HEADER}\nFraud,882,prefix,,old\nFraud,883,prefix,,\nAbusers,33,prefix,,\n")
    result = run(f"{HEADER}\nFraud,882,prefix,,new\n", mode=imports.REPLACE)
    assert (result.created, result.deleted) == (1, 1)
    assert ("Fraud", "882", "prefix", "", "new") in rows() and len(rows()) == 3
    result = run(f"{HEADER}\nFraud,44,prefix,,\n", mode=imports.REPLACE_SCOPE)
    assert (result.created, result.deleted) == (1, 2)
    assert rows() == [("Abusers", "33", "prefix", "", ""), ("Fraud", "44", "prefix", "", "")]
    deleted = NumberListEntry.history.filter(number="883", history_type="-")
    assert deleted.count() == 1


def test_dry_run_writes_nothing(lists: dict[str, NumberList]) -> None:
    result = run(f"{HEADER}\nFraud,882,prefix,,\n", dry_run=True)
    assert result.created == 1 and result.dry_run
    assert not NumberListEntry.objects.exists()


def test_export_imports_back_unchanged(lists: dict[str, NumberList]) -> None:
    text = (
        f"{HEADER}\n"
        "Abusers,33612345678,exact,,'=cmd|' /C calc'!A0\n"
        "Fraud,0033,prefix,,leading zeros kept\n"
        "Fraud,33140000000,range,33140009999,\n"
    )
    run(text)
    out = io.StringIO()
    assert imports.export_list_entries(out) == 3
    exported = out.getvalue()
    assert exported.splitlines()[0] == HEADER
    NumberListEntry.objects.all().delete()
    run(exported)
    assert rows()[0][4] == "=cmd|' /C calc'!A0"
    assert len(rows()) == 3 and ("Fraud", "0033", "prefix", "", "leading zeros kept") in rows()


def test_the_routing_table_sees_an_import(lists: dict[str, NumberList]) -> None:
    table = build_from_database()
    run(f"{HEADER}\nFraud,33612345678,,,\nFraud,3361,prefix,,\n")
    patched = update_from_database(table)
    assert patched is not None
    found = patched.list_entries[lists["fraud"].pk]
    assert found.find("33612345678") == ("exact", "33612345678")
    assert found.find("33619999999") == ("prefix", "3361*")
    assert patched.list_entries[lists["abusers"].pk] is table.list_entries[lists["abusers"].pk]


def test_commands_import_and_export(lists: dict[str, NumberList], tmp_path: Any, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "entries.csv"
    path.write_text(f"{HEADER}\nFraud,882,prefix,,\n")
    call_command("import_list_entries", str(path), "--no-progress")
    assert "Imported 1 list entries." in capsys.readouterr().out
    out = tmp_path / "out.csv"
    call_command("export_list_entries", str(out))
    assert out.read_text().splitlines() == [HEADER, "Fraud,882,prefix,,"]
    path.write_text(f"{HEADER}\nNobody,882,prefix,,\n")
    with pytest.raises(CommandError, match="no number list named 'Nobody'"):
        call_command("import_list_entries", str(path), "--no-progress")
