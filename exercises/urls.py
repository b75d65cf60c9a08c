from django.urls import path

from . import views

app_name = "exercises"

urlpatterns = [
    path("<slug:slug>/", views.exercise_detail, name="detail"),
    path("<slug:slug>/starter.zip", views.starter_download, name="starter"),
]
