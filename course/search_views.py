"""The course search page: a GET form, so it works without JavaScript and can be bookmarked."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from .search import MAX_QUERY_LENGTH, MIN_QUERY_LENGTH, search_terms, section_search

QUERY_TOO_SHORT = f"Type at least {MIN_QUERY_LENGTH} characters to search the course."
NO_RESULTS = "Nothing in the course matches “{query}”. Try fewer or shorter words."


def course_search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    hits = section_search(query=query) if query else []
    message = ""
    if query and not search_terms(query):
        message = QUERY_TOO_SHORT
    elif query and not hits:
        message = NO_RESULTS.format(query=query)
    return render(
        request,
        "course/search.html",
        {"search_query": query, "hits": hits, "message": message},
    )
