from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("exercises/", include("exercises.urls")),
    path("", include("course.urls")),
]

# Operations (issue 7): liveness, readiness and Prometheus metrics (docker/ uses all three).
from drydock import health, metrics  # noqa: E402

urlpatterns += [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
]
