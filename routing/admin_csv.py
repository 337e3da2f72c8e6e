"""CSV import and export in the admin, for route rules and DIDs (routing.imports)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from routing import import_process, imports
from routing.admin_log import log_import
from routing.streaming import StreamingCsvResponse


def counted(count: int, opts: Any) -> str:
    """ "1 route rule", "2 route rules"."""
    return f"{count} {opts.verbose_name if count == 1 else opts.verbose_name_plural}"


def import_message(filename: str, opts: Any, result: Any) -> str:
    """What an import did, the file named as uploaded (the admin capitalizes a message's
    first letter: the message does not start with the name)."""
    created, deleted = result.created, result.deleted
    if result.dry_run:
        text = f"Checked “{filename}”: {counted(created, opts)} would be created"
        text += f", {deleted} deleted" if deleted else ""
        return text + " (check only: nothing was written)."
    verb = "was" if created == 1 else "were"
    text = f"Imported “{filename}”: {counted(created, opts)} {verb} created"
    return text + (f", {deleted} deleted." if deleted else ".")


class CsvUploadForm(forms.Form):
    """An uploaded CSV file, refused past C4ROUTER_IMPORT_MAX_BYTES."""

    file = forms.FileField(label="CSV file", help_text="UTF-8, with a header line.")

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        too_large = imports.upload_size_error(upload.size)
        if too_large:
            raise forms.ValidationError(too_large)
        return upload


class CsvImportForm(CsvUploadForm):
    mode = forms.ChoiceField(
        choices=[
            (imports.ADD, "Add: every line is new (a duplicate fails the import)"),
            (imports.REPLACE, "Replace what the file redefines (same scope and prefix/number)"),
            (imports.REPLACE_SCOPE, "Replace everything in each scope the file names"),
        ],
        initial=imports.ADD,
        widget=forms.RadioSelect,
    )
    dry_run = forms.BooleanField(
        required=False, label="Check only", help_text="Validate the whole file, write nothing."
    )


class CsvImportExportMixin:
    """Adds "Import CSV" and "Export CSV" to a model admin's change list.

    The subclass names the service functions: `csv_importer`, `csv_exporter`, and the
    download's `csv_filename`. The import is all or nothing, like the API's and the
    command's: a refused file lists every bad line with its field and message.
    """

    change_list_template = "admin/routing/csv_change_list.html"
    # The upload form (its file field checks the size limit) and run_csv_import(): the
    # ported numbers' import has modes and counts of its own (routing.admin).
    csv_import_form: type[forms.Form] = CsvImportForm
    csv_importer: Any
    csv_exporter: Any
    csv_filename: str
    # What the import page tells the operator: the file's format (a template), and an
    # example file to download (`csv_example`, saved as `csv_example_filename`).
    csv_format_template: str
    csv_example: str
    csv_example_filename: str
    actions = ["export_selected_csv"]

    def get_urls(self) -> list[URLPattern]:
        info = self.model._meta.app_label, self.model._meta.model_name  # type: ignore[attr-defined]
        own = [
            path(
                "import-csv/",
                self.admin_site.admin_view(self.import_csv_view),  # type: ignore[attr-defined]
                name="{}_{}_import_csv".format(*info),
            ),
            path(
                "import-csv/example/",
                self.admin_site.admin_view(self.example_csv_view),  # type: ignore[attr-defined]
                name="{}_{}_import_csv_example".format(*info),
            ),
            path(
                "export-csv/",
                self.admin_site.admin_view(self.export_csv_view),  # type: ignore[attr-defined]
                name="{}_{}_export_csv".format(*info),
            ),
        ]
        return own + super().get_urls()  # type: ignore[misc]

    def export_csv_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        # Streamed a batch of rows at a time (routing.streaming), as the API's export.
        return StreamingCsvResponse(type(self).csv_exporter.chunks(), self.csv_filename)

    def example_csv_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        response = HttpResponse(self.csv_example, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{self.csv_example_filename}"'
        return response

    @admin.action(description="Export selected as CSV")
    def export_selected_csv(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse:
        return StreamingCsvResponse(type(self).csv_exporter.chunks(queryset), self.csv_filename)

    def import_csv_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        opts = self.model._meta  # type: ignore[attr-defined]
        form = self.csv_import_form(request.POST or None, request.FILES or None)
        errors: list[imports.RowError] = []
        failure = ""
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                message = self.run_csv_import(request, upload, form.cleaned_data)
            except imports.ImportFailed as exc:
                errors, failure = exc.errors, exc.summary
            except UnicodeDecodeError:
                failure = "The file is not UTF-8 text; nothing was imported."
            else:
                self.message_user(request, message, messages.SUCCESS)  # type: ignore[attr-defined]
                changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
                return HttpResponseRedirect(changelist)
        context = {
            **self.admin_site.each_context(request),  # type: ignore[attr-defined]
            "title": f"Import {opts.verbose_name_plural} from CSV",
            "opts": opts,
            "form": form,
            "errors": errors,
            "failure": failure,
            "format_template": self.csv_format_template,
            "example_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_import_csv_example"),
            "example_filename": self.csv_example_filename,
        }
        return TemplateResponse(request, "admin/routing/csv_import.html", context)

    def run_csv_import(self, request: HttpRequest, upload: Any, data: dict[str, Any]) -> str:
        """Import the `upload` (a Django UploadedFile) with the form's `data`; what it did
        (the page's message). Raises ImportFailed (nothing written), UnicodeDecodeError or
        PermissionDenied."""
        mode = data["mode"]
        if mode != imports.ADD and not self.has_delete_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied("Replacing rows needs the delete permission.")
        filename = upload.name
        # In a child process at low priority (routing/import_process.py).
        result = import_process.run_import(
            type(self).csv_importer,
            upload,
            mode=mode,
            dry_run=data["dry_run"],
            user=request.user,
            change_reason=f"admin import of {filename}"[:100],
        )
        log_import(request.user, self.model, filename, result, "Admin")  # type: ignore[attr-defined]
        return import_message(filename, self.model._meta, result)  # type: ignore[attr-defined]
