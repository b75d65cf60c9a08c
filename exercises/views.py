"""Exercise pages. Views stay thin: selectors read, services write."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import render

from . import selectors, services


def exercise_detail(request, slug: str):
    exercise = selectors.exercise_get(slug=slug)
    if exercise is None:
        return render(request, "exercises/coming_soon.html", {"slug": slug})
    items = list(exercise.checklist.all())
    links = selectors.checklist_links(items)
    for item in items:
        item.lesson_url = links.get(item.check_id, "")
    return render(
        request,
        "exercises/detail.html",
        {
            "exercise": exercise,
            "checklist": items,
            "lesson_url": selectors.exercise_lesson_url(),
        },
    )


def starter_download(request, slug: str):
    if selectors.exercise_get(slug=slug) is None:
        raise Http404("No such exercise")
    response = HttpResponse(services.starter_zip(slug=slug), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{slug}-starter.zip"'
    return response
