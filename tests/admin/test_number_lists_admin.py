"""Number lists in the admin: counts, the entries link, import, and a delete that counts."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from routing.models import NumberList, NumberListEntry


def test_the_list_page_shows_entry_counts_and_the_refusal(admin_client, demo):
    page = admin_client.get(reverse("admin:routing_numberlist_changelist")).content.decode()
    assert "Fraud destinations" in page and "403 Destination blocked" in page
    assert ">2<" in page  # its two entries
    fraud = NumberList.objects.get(name="Fraud destinations")
    change = admin_client.get(reverse("admin:routing_numberlist_change", args=[fraud.pk]))
    assert f"?number_list__id__exact={fraud.pk}" in change.content.decode()
    assert "2 entries" in change.content.decode()


def test_entries_are_searched_by_number_start_and_comment(admin_client, demo):
    url = reverse("admin:routing_numberlistentry_changelist")
    found = admin_client.get(url, {"q": "338"}).context["cl"].result_list
    assert [entry.number for entry in found] == ["3389"]
    found = admin_client.get(url, {"q": "satellite"}).context["cl"].result_list
    assert [entry.number for entry in found] == ["882"]
    assert not admin_client.get(url, {"q": "89"}).context["cl"].result_list  # starts with


def test_entries_import_from_the_admin(admin_client, demo):
    text = (
        "list,number,match,range_end,comment\nFraud destinations,33140000000,range,33140009999,x\n"
    )
    response = admin_client.post(
        reverse("admin:routing_numberlistentry_import_csv"),
        {"file": SimpleUploadedFile("entries.csv", text.encode()), "mode": "add"},
    )
    assert response.status_code == 302
    assert NumberListEntry.objects.filter(match="range", range_end="33140009999").exists()


def test_deleting_a_list_counts_its_entries_then_deletes_them(admin_client, demo):
    fraud = NumberList.objects.get(name="Fraud destinations")
    url = reverse("admin:routing_numberlist_delete", args=[fraud.pk])
    page = admin_client.get(url).content.decode()
    assert "Fraud destinations and its 2 entries" in page
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not NumberList.objects.filter(pk=fraud.pk).exists()
    assert not NumberListEntry.objects.filter(number_list_id=fraud.pk).exists()
    deleted = NumberListEntry.history.filter(history_type="-")
    assert deleted.count() == 2
    assert {h.history_user.username for h in deleted} == {"admin"}
