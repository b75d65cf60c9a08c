"""Instructor admin: exercises with their checklist; submissions read-only, with a regrade action."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from course.admin import MarkdownPreviewAdmin

from . import services
from .models import ChecklistItem, Exercise, Submission, SubmissionCheck, SubmissionGrading


class ChecklistItemInline(admin.StackedInline):
    model = ChecklistItem
    fields = (
        ("order", "check_id"),
        "title",
        "description",
        "hint",
        ("lesson_slug", "section_slug"),
    )
    extra = 0


@admin.register(Exercise)
class ExerciseAdmin(MarkdownPreviewAdmin):
    preview_field = "instructions"
    list_display = ("title", "slug", "published")
    list_filter = ("published",)
    search_fields = ("title", "instructions")
    prepopulated_fields = {"slug": ("title",)}
    inlines = [ChecklistItemInline]


class SubmissionGradingInline(admin.TabularInline):
    """The gradings regrades replaced (the current one is the submission itself)."""

    model = SubmissionGrading
    fk_name = "submission"
    fields = (
        "number", "requested_by", "requested_at", "finished_at", "status",
        "is_infrastructure_error", "checks_passed", "score", "superseded_by", "superseded_at",
    )  # fmt: skip
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name_plural = "Earlier gradings (kept by regrades)"

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class SubmissionCheckInline(admin.TabularInline):
    model = SubmissionCheck
    fields = ("check_id", "passed")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.action(description="Regrade the selected submissions")
def regrade(modeladmin, request, queryset):
    chosen = list(queryset)
    count = services.submissions_regrade(submissions=chosen, by=request.user)
    modeladmin.message_user(
        request, f"{count} submission(s) queued for regrading.", messages.SUCCESS
    )
    if count < len(chosen):
        modeladmin.message_user(
            request,
            f"{len(chosen) - count} submission(s) are being graded right now and were left alone.",
            messages.WARNING,
        )


def _pre(value: str, css_class: str = "") -> str:
    return format_html(
        '<pre class="{}" style="white-space: pre-wrap; max-height: 40rem; overflow: auto">{}</pre>',
        css_class,
        value,
    )


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "learner",
        "exercise",
        "attempt",
        "status",
        "checks_passed",
        "score",
        "is_infrastructure_error",
        "grading_delayed",
    )
    list_filter = (
        "status",
        "is_infrastructure_error",
        "grading_delayed",
        "mode",
        "exercise",
        "created_at",
    )
    search_fields = ("learner__username", "learner__email", "=public_id")
    date_hierarchy = "created_at"
    list_select_related = ("learner", "exercise")
    actions = [regrade]
    inlines = [SubmissionCheckInline, SubmissionGradingInline]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "public_id",
                    "learner_link",
                    "exercise",
                    "attempt",
                    "mode",
                    "status",
                    "stage_message",
                    "score",
                    "checks_passed",
                    "page_link",
                )
            },
        ),
        (
            "Lifecycle",
            {
                "fields": (
                    "created_at",
                    "enqueued_at",
                    "started_at",
                    "finished_at",
                    "deadline_at",
                    "task_id",
                    "grading_attempts",
                    "regrade_count",
                    "regraded_by",
                    "settled_statically",
                    "grading_delayed",
                    "is_infrastructure_error",
                    "internal_error",
                )
            },
        ),
        ("Result", {"fields": ("result_pretty", "static_result_pretty")}),
        ("Files and log", {"fields": ("files_pretty", "log_pretty")}),
    )
    readonly_fields = (
        "public_id", "learner_link", "exercise", "attempt", "mode", "status", "stage_message", "score",
        "checks_passed", "page_link", "created_at", "enqueued_at", "started_at", "finished_at", "deadline_at",
        "task_id", "grading_attempts", "regrade_count", "regraded_by", "settled_statically",
        "grading_delayed", "is_infrastructure_error",
        "internal_error", "result_pretty", "static_result_pretty", "files_pretty", "log_pretty",
    )  # fmt: skip

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="Learner")
    def learner_link(self, obj: Submission) -> str:
        return obj.learner.get_username()

    @admin.display(description="Result page")
    def page_link(self, obj: Submission) -> str:
        url = reverse("exercises:staff-submission", kwargs={"public_id": obj.public_id})
        return format_html('<a href="{}">Open the result as the learner sees it</a>', url)

    @admin.display(description="Result JSON (from the grader)")
    def result_pretty(self, obj: Submission) -> str:
        return (
            _pre(json.dumps(obj.result, indent=2, ensure_ascii=False), "result-json")
            if obj.result
            else "–"
        )

    @admin.display(description="Static result JSON")
    def static_result_pretty(self, obj: Submission) -> str:
        return (
            _pre(json.dumps(obj.static_result, indent=2, ensure_ascii=False))
            if obj.static_result
            else "–"
        )

    @admin.display(description="Files")
    def files_pretty(self, obj: Submission) -> str:
        rows = ((name, _pre(text)) for name, text in obj.files.items())
        return format_html_join("", "<h4><code>{}</code></h4>{}", rows) if obj.files else "–"

    @admin.display(description="Build/run log (tail)")
    def log_pretty(self, obj: Submission) -> str:
        return _pre(obj.log, "log") if obj.log else "–"
