"""Admin pages that are not a model's: the route tester."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from routing import validators
from routing.engine.query import QueryError
from routing.explain import explain_call


class RouteTesterForm(forms.Form):
    source_ip = forms.CharField(
        label="Source IP",
        validators=[validators.validate_ip],
        help_text="Address the call comes from: a carrier's (inbound) or a PBX's (outbound).",
    )
    from_uri = forms.CharField(
        label="From URI", required=False, help_text="The caller, e.g. sip:0123456789@10.10.0.10"
    )
    to_uri = forms.CharField(label="To URI", help_text="The called party, e.g. sip:0612345678@x")
    at = forms.DateTimeField(
        label="At",
        required=False,
        help_text="Route as if it were this time (server time zone), between 1900 and 2999. "
        "Empty: now.",
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
