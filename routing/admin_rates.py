"""Rate deck import in the admin: upload -> preview -> apply (routing.imports_rates).

The deck's page links to "Import rates": the uploaded file is checked and compared with the
deck (nothing written), the preview page shows the counts and samples, and "Apply" imports
the same file in the same mode (full or delta) at the same date, all or nothing: the three
are kept with the upload, in the session, not taken again from the apply's form. Between
the two the file waits on the server's disk (a random name, known only to the uploader's
session), so a deck of a million lines is not uploaded twice, nor held in memory.
"""

from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from routing import import_process, imports
from routing.imports_rates import (
    DELTA,
    FULL,
    KIND_LABELS,
    RATES_COMMAND,
    RateImportResult,
    rates_exporter,
)
from routing.models import RateDeck
from routing.streaming import StreamingCsvResponse

SESSION_KEY = "c4router_rate_imports"
KEEP_SECONDS = 24 * 3600  # an upload nobody applied is deleted after a day
RATE_PERMISSIONS = ("routing.add_rate", "routing.change_rate", "routing.delete_rate")


def spool_dir() -> Path:
    folder = Path(tempfile.gettempdir()) / "c4router-rate-imports"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


class RateImportForm(forms.Form):
    file = forms.FileField(
        label="Deck file (CSV)",
        help_text="UTF-8, a header line: prefix,rate[,connect_fee,initial_increment,"
        "next_increment,description,effective_from]. Prefixes with or without '+'; a decimal "
        "point. A line's effective_from (ISO 8601 date or date-time; without an offset, the "
        "server time zone) starts its rate then instead of the date below; not before it.",
    )
    mode = forms.ChoiceField(
        choices=[
            (FULL, "Full: the file is the whole deck (prefixes not in it end at the date)"),
            (
                DELTA,
                "Delta: only the file's prefixes change (the others stay as they are; a line "
                "whose change is “removed” closes its prefix)",
            ),
        ],
        initial=FULL,
        required=False,  # a form posted without it (a script, an older page): full
        widget=forms.RadioSelect,
    )
    effective_from = forms.DateTimeField(
        required=False,
        label="Effective from",
        help_text="YYYY-MM-DD HH:MM (server time zone). Empty: when you apply. The rates the "
        "file replaces, and (full) the prefixes not in it, end then.",
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        too_large = imports.upload_size_error(upload.size, RATES_COMMAND)
        if too_large:
            raise forms.ValidationError(too_large)
        return upload


class RateImportMixin:
    """ "Import rates" on a rate deck's page (RateDeckAdmin)."""

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:deck_id>/import-rates/",
                self.admin_site.admin_view(self.import_rates_view),  # type: ignore[attr-defined]
                name="routing_ratedeck_import_rates",
            ),
            path(
                "<int:deck_id>/import-rates/apply/",
                self.admin_site.admin_view(self.apply_rates_view),  # type: ignore[attr-defined]
                name="routing_ratedeck_apply_rates",
            ),
            path(
                "<int:deck_id>/export-rates/",
                self.admin_site.admin_view(self.export_rates_view),  # type: ignore[attr-defined]
                name="routing_ratedeck_export_rates",
            ),
        ]
        return own + super().get_urls()  # type: ignore[misc]

    def export_rates_view(self, request: HttpRequest, deck_id: int) -> HttpResponse:
        """The deck's rates in effect now, in the import format (routing.imports_rates)."""
        deck = RateDeck.objects.filter(pk=deck_id).first()
        if deck is None:
            raise Http404("No such rate deck.")
        if not (
            self.has_view_permission(request, deck)  # type: ignore[attr-defined]
            and request.user.has_perm("routing.view_rate")
        ):
            raise PermissionDenied
        return StreamingCsvResponse(rates_exporter(deck).chunks(), f"rates-{deck.pk}.csv")

    def _deck(self, request: HttpRequest, deck_id: int) -> RateDeck:
        deck = RateDeck.objects.filter(pk=deck_id).first()
        if deck is None:
            raise Http404("No such rate deck.")
        if not self.has_change_permission(request, deck):  # type: ignore[attr-defined]
            raise PermissionDenied
        return deck

    def import_rates_view(self, request: HttpRequest, deck_id: int) -> HttpResponse:
        deck = self._deck(request, deck_id)
        form = RateImportForm(request.POST or None, request.FILES or None)
        context: dict[str, Any] = {"form": form}
        if request.method == "POST" and form.is_valid():
            _prune()
            upload = form.cleaned_data["file"]
            token = secrets.token_urlsafe(24)
            stored = spool_dir() / f"{token}.csv"
            with stored.open("wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
            when = form.cleaned_data["effective_from"]
            mode = form.cleaned_data["mode"] or FULL
            try:
                result = _run(deck, stored, when, mode, preview=True, user=request.user,
                              name=upload.name)  # fmt: skip
            except imports.ImportFailed as exc:
                stored.unlink(missing_ok=True)
                context.update(errors=exc.errors, failure=exc.summary)
            else:
                pending = request.session.get(SESSION_KEY, {})
                pending[token] = {
                    "deck": deck.pk,
                    "name": upload.name,
                    "effective_from": when.isoformat() if when else "",
                    "mode": mode,
                }
                request.session[SESSION_KEY] = pending
                context.update(preview=_shown(result), token=token, filename=upload.name,
                               when=when, mode=mode, delta=mode == DELTA)  # fmt: skip
        return self._page(request, deck, context)

    def apply_rates_view(self, request: HttpRequest, deck_id: int) -> HttpResponse:
        deck = self._deck(request, deck_id)
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:routing_ratedeck_import_rates",
                                                args=[deck.pk]))  # fmt: skip
        if not request.user.has_perms(RATE_PERMISSIONS):
            raise PermissionDenied("Applying a deck needs the add, change and delete "
                                   "permissions of rates.")  # fmt: skip
        token = str(request.POST.get("token", ""))
        pending = request.session.get(SESSION_KEY, {})
        entry = pending.get(token)
        stored = spool_dir() / f"{token}.csv"
        if entry is None or entry["deck"] != deck.pk or not stored.exists():
            self.message_user(  # type: ignore[attr-defined]
                request,
                "This preview is no longer available: upload the file again.",
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:routing_ratedeck_import_rates",
                                                args=[deck.pk]))  # fmt: skip
        when = parse_datetime(entry["effective_from"]) if entry["effective_from"] else None
        # The preview's mode (an upload previewed before modes existed: full, as it was).
        mode = entry.get("mode", FULL)
        try:
            result = _run(deck, stored, when, mode, preview=False, user=request.user,
                          name=entry["name"])  # fmt: skip
        except imports.ImportFailed as exc:
            # The deck or the clock moved since the preview (a date now in the past).
            return self._page(request, deck, {"form": RateImportForm(), "errors": exc.errors,
                                              "failure": exc.summary})  # fmt: skip
        finally:
            pending.pop(token, None)
            request.session[SESSION_KEY] = pending
        stored.unlink(missing_ok=True)
        self.message_user(  # type: ignore[attr-defined]
            request,
            f"Imported “{entry['name']}” ({mode}) into {deck.name} from "
            f"{timezone.localtime(result.effective_from):%Y-%m-%d %H:%M}: {result.summary}. "
            f"{result.created} rates start then, {result.ended} ended then, "
            f"{result.deleted} later-dated ones replaced.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:routing_ratedeck_change", args=[deck.pk]))

    def _page(self, request: HttpRequest, deck: RateDeck, context: dict[str, Any]) -> HttpResponse:
        opts = RateDeck._meta
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": f"Import rates into {deck.name}",
            "opts": opts,
            "original": deck,
            "deck": deck,
            "may_apply": request.user.has_perms(RATE_PERMISSIONS),
            **context,
        }
        return TemplateResponse(request, "admin/routing/ratedeck/import_rates.html", context)


def _run(
    deck: RateDeck, stored: Path, when: Any, mode: str, *, preview: bool, user: Any, name: str
) -> RateImportResult:
    # In a child process at low priority (routing/import_process.py): a deck of a million
    # lines is tens of seconds of CPU the workers that answer Kamailio keep.
    try:
        return import_process.run_rate_import(deck, stored, effective_from=when, mode=mode,
                                              preview=preview, user=user,
                                              filename=f"admin upload {name}")  # fmt: skip
    except UnicodeDecodeError:
        raise imports.ImportFailed(
            [imports.RowError(0, "file", "The file is not UTF-8 text.")]
        ) from None


def _shown(result: RateImportResult) -> list[dict[str, Any]]:
    """The preview's kinds for the template: label, count, sample (a delta: "removed" only
    when its lines close prefixes)."""
    return [
        {
            "kind": kind,
            "label": KIND_LABELS[kind],
            "count": result.counts[kind],
            "sample": result.samples.get(kind, []),
        }
        for kind in result.kinds
    ]


def _prune() -> None:
    """Delete the uploads nobody applied within a day."""
    limit = time.time() - KEEP_SECONDS
    for stale in spool_dir().glob("*.csv"):
        try:
            if stale.stat().st_mtime < limit:
                stale.unlink()
        except OSError:
            continue


__all__ = ["RateImportMixin"]
