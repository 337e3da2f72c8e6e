"""The admin's capacity-limits CSV page (routing.imports_limits): download every object's
limits, upload a file to set them ("check only" writes nothing). Linked from the index's
Tools and from the Capacity section of each object with limits."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from routing import import_process, imports, imports_limits
from routing.admin_csv import CsvUploadForm
from routing.streaming import StreamingCsvResponse

EXAMPLE = (
    "kind,name,max_calls,max_cps\n"
    "tenant,Acme,200,20\n"
    "pbx,Acme/main-pbx,50,\n"
    "ip_source,192.0.2.0/24,,10\n"
    "carrier,Alpha Telecom,1000,100\n"
    "gateway,Alpha Telecom/alpha-1,500,\n"
)


class LimitImportForm(CsvUploadForm):
    dry_run = forms.BooleanField(
        required=False, label="Check only", help_text="Validate the whole file, write nothing."
    )


def _kinds(request: HttpRequest, permission: Any) -> list[str]:
    return [k for k in imports_limits.KINDS if request.user.has_perm(permission(k))]


def limits_message(filename: str, result: imports.ImportResult) -> str:
    objects = imports_limits.objects_count(result.updated)
    if result.dry_run:
        return (
            f"Checked “{filename}”: the limits of {objects} would change, "
            f"{result.unchanged} unchanged (check only: nothing was written)."
        )
    changed = "was" if result.updated == 1 else "were"
    return (
        f"Imported “{filename}”: the limits of {objects} {changed} changed, "
        f"{result.unchanged} unchanged."
    )


def capacity_limits(request: HttpRequest) -> HttpResponse:
    viewable = _kinds(request, imports_limits.view_permission)
    changeable = _kinds(request, imports_limits.change_permission)
    if not viewable and not changeable:
        raise PermissionDenied
    form = LimitImportForm(request.POST or None, request.FILES or None)
    errors: list[imports.RowError] = []
    failure = ""
    if request.method == "POST":
        if not changeable:
            raise PermissionDenied
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                # In a child process at low priority (routing/import_process.py); a kind
                # this user may not change is an error naming its lines.
                result = import_process.run_import(
                    imports_limits.import_limits,
                    upload,
                    mode=imports_limits.UPDATE,
                    dry_run=form.cleaned_data["dry_run"],
                    user=request.user,
                    change_reason=f"admin import of {upload.name}"[:100],
                )
            except imports.ImportFailed as exc:
                errors, failure = exc.errors, exc.summary
            except UnicodeDecodeError:
                failure = "The file is not UTF-8 text; nothing was imported."
            else:
                messages.success(request, limits_message(upload.name, result))
                return HttpResponseRedirect(reverse("capacity-limits"))
    context = {
        **admin.site.each_context(request),
        "title": "Capacity limits (CSV)",
        "form": form if changeable else None,
        "errors": errors,
        "failure": failure,
        "viewable": viewable,
        "changeable": changeable,
        "kinds": list(imports_limits.KINDS),
        "example": EXAMPLE,
    }
    return TemplateResponse(request, "admin/routing/capacity_limits.html", context)


def capacity_limits_export(request: HttpRequest) -> HttpResponse:
    viewable = _kinds(request, imports_limits.view_permission)
    if not viewable:
        raise PermissionDenied
    limited = request.GET.get("limited_only", "") in ("1", "true", "on")
    chunks = imports_limits.export_limit_chunks(limited_only=limited, kinds=viewable)
    return StreamingCsvResponse(chunks, "capacity-limits.csv")


def capacity_limits_example(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(EXAMPLE, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="capacity-limits-example.csv"'
    return response
