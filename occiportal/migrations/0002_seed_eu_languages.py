from django.db import migrations

from occiportal.eu_languages import EU_LANGUAGES


def seed(apps, schema_editor):
    Language = apps.get_model("occiportal", "Language")
    for code, name_en, name_native in EU_LANGUAGES:
        Language.objects.update_or_create(
            code=code, defaults={"name_en": name_en, "name_native": name_native, "is_eu_official": True}
        )


class Migration(migrations.Migration):
    dependencies = [("occiportal", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
