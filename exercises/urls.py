from django.urls import path

from . import staff_views, views

app_name = "exercises"

# Fixed paths first: they shadow exercises with these slugs (there are none).
urlpatterns = [
    path("submissions/<uuid:public_id>/", views.submission_detail, name="submission"),
    path("health/", views.grading_health, name="health"),
    path("preview/<str:field>/", views.editor_preview, name="preview"),
    path("staff/", staff_views.dashboard, name="staff-dashboard"),
    path("staff/grades.csv", staff_views.export_csv, name="staff-export"),
    path("staff/regrade/", staff_views.regrade, name="staff-regrade"),
    path(
        "staff/submissions/<uuid:public_id>/",
        staff_views.submission_detail,
        name="staff-submission",
    ),
    path("<slug:slug>/", views.exercise_detail, name="detail"),
    path("<slug:slug>/starter.zip", views.starter_download, name="starter"),
    path("<slug:slug>/compare/", views.submission_compare, name="compare"),
    path("<slug:slug>/attempts/", views.attempts_list, name="attempts"),
    path("<slug:slug>/check/", views.live_check, name="live-check"),
]
