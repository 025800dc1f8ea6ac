from django.apps import AppConfig


class OcciportalConfig(AppConfig):
    name = "occiportal"
    verbose_name = "Languages, partners and roles"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
