from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from drf_spectacular.views import SpectacularRedocView

from occiportal.api.schema import SchemaView

# Redoc (served from the portal, drf-spectacular-sidecar) writes its styles
# into the page and renders in a blob: worker; its scripts still come from the portal only.
API_DOCS = csp_update({"style-src": [UNSAFE_INLINE], "worker-src": ["blob:"]})(
    SpectacularRedocView.as_view(url_name="api-schema", template_name="api_docs.html")
)

urlpatterns = [
    path("admin/", admin.site.urls),
    # Browsers ask for it whatever the page says; the page names the SVG.
    path("favicon.ico", lambda request: redirect(static("favicon.svg"), permanent=True)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SchemaView.as_view(), name="api-schema"),
    path("api/docs/", API_DOCS, name="api-docs"),
    path("api/", include("annotation.api.urls")),
    path("api/", include("training.api.urls")),
    path("", include("annotation.web.urls")),
    path("", include("occiportal.web.urls")),
    path("", include("training.web.urls")),
]
