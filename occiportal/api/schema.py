"""The OpenAPI schema view, safe to ask for from several threads at once."""

import threading

from drf_spectacular.views import SpectacularAPIView

# drf-spectacular imports its contrib extensions' target classes lazily and
# rewrites class attributes as it goes; two threads generating the first
# schema of a process at once crash with "'NoneType' object has no attribute
# 'startswith'" (tfranzel/drf-spectacular#1122). gunicorn's threads did.
_GENERATING = threading.Lock()


class SchemaView(SpectacularAPIView):
    def _get_schema_response(self, request):
        with _GENERATING:
            return super()._get_schema_response(request)
