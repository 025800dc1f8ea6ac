from django.apps import AppConfig


class OcciportalConfig(AppConfig):
    name = "occiportal"
    verbose_name = "Languages, partners and roles"
