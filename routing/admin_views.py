"""Admin pages that are not a model's: the route tester."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from routing import validators
from routing.engine.query import QueryError
from routing.explain import explain_call

AT_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends (seconds optional)


class RouteTesterForm(forms.Form):
    source_ip = forms.CharField(
        label="Source IP address",
        validators=[validators.validate_ip],
        widget=forms.TextInput(attrs={"class": "vTextField", "placeholder": "10.10.0.10"}),
        help_text="Address the call comes from: a carrier's (inbound) or a PBX's (outbound).",
    )
    from_uri = forms.CharField(
        label="From URI",
        required=False,
        widget=forms.TextInput(
            attrs={"class": "vTextField", "placeholder": "sip:0123456789@10.10.0.10"}
        ),
        help_text="The caller, e.g. sip:0123456789@10.10.0.10",
    )
    to_uri = forms.CharField(
        label="To URI",
        widget=forms.TextInput(attrs={"class": "vTextField", "placeholder": "sip:0612345678@x"}),
        help_text="The called party, e.g. sip:0612345678@x",
    )
    at = forms.DateTimeField(
        label="At",
        required=False,
        input_formats=[AT_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=AT_FORMAT),
        error_messages={
            "invalid": "Enter the date and time as YYYY-MM-DD HH:MM, e.g. 2026-11-30 09:30."
        },
        help_text=f"Route as if it were this date and time, in the server's time zone "
        f"({settings.TIME_ZONE}): the picker, or YYYY-MM-DD HH:MM (24-hour), e.g. "
        "2026-11-30 09:30. Between 1900 and 2999. Empty: now.",
    )


@permission_required("routing.view_routerule", raise_exception=True)
def route_tester(request: HttpRequest) -> HttpResponse:
    form = RouteTesterForm(request.GET or None)
    result = None
    if form.is_valid():
        try:
            result = explain_call(
                form.cleaned_data["source_ip"],
                form.cleaned_data["from_uri"],
                form.cleaned_data["to_uri"],
                at=form.cleaned_data["at"],
            )
        except QueryError as exc:
            field, _, message = str(exc).partition(": ")
            target = {name: name for name in ("from_uri", "to_uri", "source_ip", "at")}
            form.add_error(target.get(field), message or str(exc))
    context = {
        **admin.site.each_context(request),
        "title": "Route tester",
        "form": form,
        "result": result,
    }
    return TemplateResponse(request, "admin/routing/route_tester.html", context)
