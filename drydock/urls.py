from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """Browsers (and the admin, which has no <link rel=icon>) ask for /favicon.ico.

    Resolved per request, not at import: the hashed static name needs the manifest.
    """
    return HttpResponseRedirect(static("favicon.svg"))


urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("exercises/", include("exercises.urls")),
    path("", include("course.urls")),
    path("favicon.ico", favicon, name="favicon"),
]

# Operations (issue 7): liveness, readiness and Prometheus metrics (docker/ uses all three).
from drydock import health, metrics  # noqa: E402

urlpatterns += [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
]

# Branded error pages: templates/403.html, 404.html (with the site's header, a way back and
# search) and 500.html (standalone: it must render even when the database is down).
handler403 = "django.views.defaults.permission_denied"
handler404 = "django.views.defaults.page_not_found"
handler500 = "django.views.defaults.server_error"
