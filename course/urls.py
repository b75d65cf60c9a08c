from django.urls import path

from . import search_views, views

app_name = "course"

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", search_views.course_search, name="search"),
    path("sections/<int:section_id>/complete/", views.section_complete, name="section-complete"),
    path("questions/<int:question_id>/answer/", views.question_answer, name="question-answer"),
    path("courses/<slug:course>/", views.course_detail, name="course"),
    path("courses/<slug:course>/<slug:lesson>/", views.lesson_detail, name="lesson"),
]
