from django.db import migrations


def create_version_row(apps, schema_editor):
    RoutingVersion = apps.get_model("routing", "RoutingVersion")
    RoutingVersion.objects.using(schema_editor.connection.alias).get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("routing", "0001_initial")]

    operations = [migrations.RunPython(create_version_row, migrations.RunPython.noop)]
