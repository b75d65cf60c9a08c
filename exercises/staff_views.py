"""Instructor pages: the submissions dashboard, pass-rate chart, regrades and the grades CSV."""

from __future__ import annotations

import csv
from functools import wraps
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from . import selectors, services
from .models import Exercise, Submission
from .views import render_submission

REGRADED = "{count} submission(s) queued for regrading."
REGRADE_SKIPPED = "{count} submission(s) are being graded right now and were left alone."
NOTHING_SELECTED = "Select at least one submission to regrade."


def staff_required(view):
    """Anonymous visitors go to the login page; signed-in learners get 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (request.user.is_active and request.user.is_staff):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


class FilterForm(forms.Form):
    STATUS_CHOICES = [
        ("", "Any status"),
        *Submission.Status.choices,
        ("infrastructure", "Drydock's own errors"),
    ]

    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    exercise = forms.ChoiceField(required=False)
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    learner = forms.CharField(required=False, max_length=150)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["exercise"].choices = [
            ("", "Any exercise"),
            *Exercise.objects.values_list("slug", "title"),
        ]

    def filters(self) -> selectors.SubmissionFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return selectors.SubmissionFilters(**{k: v for k, v in data.items() if v})


@staff_required
@require_GET
def dashboard(request):
    form = FilterForm(request.GET or None)
    submissions = selectors.submissions_filter(
        filters=form.filters() if form.is_bound else selectors.SubmissionFilters()
    )
    page = Paginator(submissions, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "exercises/staff/dashboard.html",
        {
            "form": form,
            "page": page,
            "pass_rates": selectors.check_pass_rates(submissions=submissions),
            "outcomes": selectors.submission_outcomes(submissions=submissions),
            "total": page.paginator.count,
            "query": query.urlencode(),
        },
    )


@staff_required
@require_POST
def regrade(request):
    public_ids = request.POST.getlist("submission")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}):
        back = ""
    if not public_ids:
        messages.warning(request, NOTHING_SELECTED)
        return redirect(back or "exercises:staff-dashboard")
    chosen = list(Submission.objects.filter(public_id__in=[i for i in public_ids if _is_uuid(i)]))
    regraded = services.submissions_regrade(submissions=chosen, by=request.user)
    messages.success(request, REGRADED.format(count=regraded))
    if regraded < len(chosen):
        messages.warning(request, REGRADE_SKIPPED.format(count=len(chosen) - regraded))
    return redirect(back or "exercises:staff-dashboard")


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


class _Echo:
    def write(self, value: str) -> str:
        return value


@staff_required
@require_GET
def export_csv(request):
    form = FilterForm(request.GET or None)
    submissions = selectors.submissions_filter(
        filters=form.filters() if form.is_bound else selectors.SubmissionFilters()
    )
    writer = csv.writer(_Echo())
    rows = selectors.grade_rows(submissions=submissions, best_only=request.GET.get("best") == "1")
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="drydock-grades-{stamp}.csv"'
    return response


@staff_required
def submission_detail(request, public_id):
    submission = (
        Submission.objects.select_related("exercise", "learner", "regraded_by")
        .filter(public_id=public_id)
        .first()
    )
    if submission is None:
        raise Http404("No such submission")
    return render_submission(
        request,
        submission,
        staff_view=True,
        extra={"gradings": selectors.submission_gradings(submission=submission)},
    )
