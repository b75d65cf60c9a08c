"""Learner pages of an exercise. Views stay thin: selectors read, services write.

One view per page: a request from htmx gets the page's partial (the polling progress
fragment, the editor preview, the health banner), anything else the full page.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from course import page_cache

from . import selectors, services
from .forms import EDITORS, FIELD_OF, SubmissionForm
from .models import Submission
from .selectors import findings as findings_sel
from .selectors import pages as pages_sel
from .services import live

ATTEMPTS_PER_PAGE = 25
MAX_REQUEST_BYTES = 4 * 1024 * 1024  # 8 files of 256 KiB, pasted text and the multipart overhead
REQUEST_TOO_LARGE = "Your submission is larger than 4 MiB in all: each file may be at most 256 KiB."


def exercise_detail(request, slug: str):
    """The exercise: instructions, checklist, starter download, the submission form and history.

    Anonymous visitors share one cached page; the part that is the same for everybody is
    cached for learners too (no query)."""
    if request.method == "GET" and page_cache.is_shared(request):
        return page_cache.shared_page(request, lambda: _exercise_page(request, slug))
    return _exercise_page(request, slug)


def _exercise_page(request, slug: str):
    shared = pages_sel.exercise_shared(slug=slug)
    if shared is None:
        response = render(request, "exercises/coming_soon.html", {"slug": slug})
        patch_cache_control(response, private=True)  # any slug: not worth keeping
        return response
    exercise = shared.exercise
    form, status, request_error = _prefilled_form(request, exercise), 200, ""
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_REQUEST_BYTES:
            request_error, status = REQUEST_TOO_LARGE, 413
        else:
            form = SubmissionForm(request.POST, request.FILES)
            if form.is_valid():
                try:
                    submission = services.submission_create(
                        learner=request.user, exercise=exercise, files=form.submission_files,
                        executables=form.executables,
                    )  # fmt: skip
                except services.SubmissionRateLimited as error:
                    form.add_error(None, str(error))
                    status = 429
                except services.SubmissionError as error:
                    form.add_error(None, str(error))
                    status = 422
                else:
                    return redirect(submission)
            else:
                status = 422
    recent = pages_sel.RECENT_ATTEMPTS
    attempts = selectors.submissions_for_learner(
        user=request.user, exercise=exercise, limit=recent + 1
    )  # one more than shown: whether to link to the page of all attempts
    return render(
        request,
        "exercises/detail.html",
        {
            "exercise": exercise,
            "checklist": shared.checklist,
            "lesson_url": shared.lesson_url,
            "form": form,
            "request_error": request_error,
            "attempts": attempts[:recent],
            "more_attempts": len(attempts) > recent,
            "quota": services.submission_quota(learner=request.user)
            if request.user.is_authenticated
            else None,
        },
        status=status,
    )


@login_required
@require_GET
def attempts_list(request, slug: str):
    """Every attempt of the learner at the exercise, newest first, a page at a time."""
    exercise = selectors.exercise_get(slug=slug)
    if exercise is None:
        raise Http404("No such exercise")
    attempts = pages_sel.learner_attempts(user=request.user, exercise=exercise)
    page = Paginator(attempts, ATTEMPTS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "exercises/attempts.html",
        {"exercise": exercise, "page": page, "attempts": list(page.object_list)},
    )


def _prefilled_form(request, exercise) -> SubmissionForm:
    """The form of a GET: the editors hold the learner's last attempt (or `?from=`'s, or the
    starter's development files on a first visit); extra files come along as kept files."""
    if request.method != "GET" or not request.user.is_authenticated:
        return SubmissionForm()
    files, source = selectors.editor_files_for_learner(
        user=request.user, exercise=exercise, from_public_id=request.GET.get("from", "")
    )
    form = SubmissionForm(initial={field: files.get(name, "") for field, name in EDITORS.items()})
    form.kept = {name: text for name, text in files.items() if name not in FIELD_OF}
    form.prefilled_from = source
    return form


def starter_download(request, slug: str):
    if selectors.exercise_get(slug=slug) is None:
        raise Http404("No such exercise")
    response = HttpResponse(services.starter_zip(slug=slug), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{slug}-starter.zip"'
    return response


def render_submission(
    request, submission: Submission, *, staff_view: bool = False, extra: dict | None = None
):
    """The result page, or (htmx) its progress fragment; polling stops with HTTP 286 when done."""
    context = {
        "submission": submission,
        "exercise": submission.exercise,
        "progress": selectors.submission_progress(submission=submission),
        "static_report": selectors.submission_report(
            exercise=submission.exercise, result=submission.static_result
        ),
        "report": selectors.submission_report(
            exercise=submission.exercise, result=submission.result
        ),
        "staff_view": staff_view,
        **_files_context(submission),
        **(extra or {}),
    }
    if request.htmx:
        response = render(request, "exercises/_submission_status.html", {**context, "oob": True})
        if submission.is_finished:
            response.status_code = HttpResponseStopPolling.status_code
        return response
    context["lesson_url"] = selectors.exercise_lesson_url()
    return render(request, "exercises/submission.html", context)


def _files_context(submission: Submission) -> dict:
    """The learner's files with line numbers and the findings of the latest result inline."""
    result = submission.result or submission.static_result
    findings = findings_sel.result_findings(result=result, files=submission.files)
    return {
        "annotated_files": findings_sel.annotated_files(files=submission.files, findings=findings),
        "findings_count": len(findings),
        "excerpt": findings_sel.error_excerpt(result=result, files=submission.files),
    }


@login_required
def submission_detail(request, public_id):
    submission = selectors.submission_get_for_learner(public_id=public_id, user=request.user)
    if submission is None:
        raise Http404("No such submission")
    quota = None if request.htmx else services.submission_quota(learner=request.user)
    return render_submission(request, submission, extra={"quota": quota})


@login_required
@require_GET
def submission_compare(request, slug: str):
    """Diff two of the learner's own attempts (?old=<id>&new=<id>); anyone else's is a 404."""
    exercise = selectors.exercise_get(slug=slug)
    old, new = (
        selectors.submission_get_for_learner(public_id=request.GET.get(key, ""), user=request.user)
        for key in ("old", "new")
    )
    if (
        exercise is None
        or old is None
        or new is None
        or old.exercise_id != exercise.pk
        or new.exercise_id != exercise.pk
    ):
        raise Http404("No such submission")
    if old.created_at > new.created_at:
        old, new = new, old
    return render(
        request,
        "exercises/compare.html",
        {
            "exercise": exercise,
            "old": old,
            "new": new,
            "diffs": selectors.submission_split_diff(old=old, new=new),
            "changed_checks": selectors.checks_changed(old=old, new=new),
        },
    )


@login_required
@require_POST
def live_check(request, slug: str):
    """Feedback while typing (debounced by the page): the static checks of the editors' text."""
    exercise = selectors.exercise_get(slug=slug)
    if exercise is None:
        raise Http404("No such exercise")
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_REQUEST_BYTES:
        return JsonResponse({"error": REQUEST_TOO_LARGE}, status=413)
    files = {
        name: request.POST.get(field, "").replace("\r\n", "\n") for field, name in EDITORS.items()
    }
    try:
        check = live.live_check(learner_id=request.user.pk, exercise_slug=slug, files=files)
    except live.LiveCheckLimited as error:
        return JsonResponse({"error": str(error), "status": "limited"}, status=429)
    return JsonResponse(check.to_json())


@login_required
@require_POST
def editor_preview(request, field: str):
    """The highlighted preview under an editor (htmx, debounced)."""
    if field not in EDITORS:
        raise Http404("No such editor")
    language = SubmissionForm.base_fields[field].widget.attrs["data-language"]
    html = selectors.code_preview_html(text=request.POST.get(field, ""), language=language)
    return HttpResponse(html)


@require_GET
def grading_health(request):
    """The 'grading is unavailable' banner, loaded by htmx so the page never waits for it."""
    return render(request, "exercises/_health_banner.html", {"health": selectors.grading_health()})
