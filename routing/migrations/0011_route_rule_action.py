"""Rules route or reject (issue 12, item 5). A rule saved without targets answered 480
Temporarily Unavailable for its prefix: it becomes a rule that rejects with that code and
reason, so every call gets the answer it got before."""

import django.core.validators
import routing.validators
from django.db import migrations, models


def targetless_rules_reject(apps, schema_editor):
    RouteRule = apps.get_model("routing", "RouteRule")
    RouteRule.objects.filter(targets__isnull=True).update(
        action="reject", reject_code=480, reject_reason="Temporarily Unavailable"
    )


def rejecting_rules_route(apps, schema_editor):
    RouteRule = apps.get_model("routing", "RouteRule")
    RouteRule.objects.filter(action="reject").update(
        action="route", reject_code=None, reject_reason=""
    )


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0010_health"),
    ]

    operations = [
        migrations.AddField(
            model_name="historicalrouterule",
            name="action",
            field=models.CharField(
                choices=[
                    ("route", "Route the calls to the targets"),
                    ("reject", "Reject the calls with a SIP code"),
                ],
                db_default="route",
                default="route",
                help_text="Route: the calls go to the targets (at least one). Reject: the router answers the calls with the SIP code and reason below (a deliberate block), and the rule has no targets.",
                max_length=6,
            ),
        ),
        migrations.AddField(
            model_name="historicalrouterule",
            name="reject_code",
            field=models.PositiveSmallIntegerField(
                blank=True,
                help_text="For a rule that rejects: 400-699, e.g. 403 (Forbidden), 404 (Not Found), 480 (Temporarily Unavailable), 503 (Service Unavailable), 603 (Decline).",
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(400),
                    django.core.validators.MaxValueValidator(699),
                ],
                verbose_name="reject with SIP code",
            ),
        ),
        migrations.AddField(
            model_name="historicalrouterule",
            name="reject_reason",
            field=models.CharField(
                blank=True,
                db_default="",
                default="",
                help_text="For a rule that rejects: the reason phrase sent with the code, e.g. Forbidden.",
                max_length=64,
                validators=[routing.validators.validate_reason_phrase],
                verbose_name="reject with reason",
            ),
        ),
        migrations.AddField(
            model_name="routerule",
            name="action",
            field=models.CharField(
                choices=[
                    ("route", "Route the calls to the targets"),
                    ("reject", "Reject the calls with a SIP code"),
                ],
                db_default="route",
                default="route",
                help_text="Route: the calls go to the targets (at least one). Reject: the router answers the calls with the SIP code and reason below (a deliberate block), and the rule has no targets.",
                max_length=6,
            ),
        ),
        migrations.AddField(
            model_name="routerule",
            name="reject_code",
            field=models.PositiveSmallIntegerField(
                blank=True,
                help_text="For a rule that rejects: 400-699, e.g. 403 (Forbidden), 404 (Not Found), 480 (Temporarily Unavailable), 503 (Service Unavailable), 603 (Decline).",
                null=True,
                validators=[
                    django.core.validators.MinValueValidator(400),
                    django.core.validators.MaxValueValidator(699),
                ],
                verbose_name="reject with SIP code",
            ),
        ),
        migrations.AddField(
            model_name="routerule",
            name="reject_reason",
            field=models.CharField(
                blank=True,
                db_default="",
                default="",
                help_text="For a rule that rejects: the reason phrase sent with the code, e.g. Forbidden.",
                max_length=64,
                validators=[routing.validators.validate_reason_phrase],
                verbose_name="reject with reason",
            ),
        ),
        migrations.RunPython(targetless_rules_reject, rejecting_rules_route),
        migrations.AddConstraint(
            model_name="routerule",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("action", "route"), ("reject_code__isnull", True), ("reject_reason", "")
                    ),
                    models.Q(
                        ("action", "reject"),
                        ("reject_code__isnull", False),
                        ("reject_code__gte", 400),
                        ("reject_code__lte", 699),
                        models.Q(("reject_reason", ""), _negated=True),
                    ),
                    _connector="OR",
                ),
                name="routing_routerule_action_valid",
            ),
        ),
    ]
