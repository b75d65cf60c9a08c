"""Instructor editing: ordered inlines, publish/draft, and a live rendered preview."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_POST

from .models import Choice, Course, Lesson, Module, Question, Section
from .rendering import render_markdown


@admin.action(description="Publish selected")
def make_published(modeladmin, request, queryset):
    queryset.update(published=True)


@admin.action(description="Unpublish selected (draft)")
def make_draft(modeladmin, request, queryset):
    queryset.update(published=False)


class ModuleInline(admin.TabularInline):
    model = Module
    fields = ("order", "title", "slug", "published")
    prepopulated_fields = {"slug": ("title",)}
    extra = 0


class LessonInline(admin.TabularInline):
    model = Lesson
    fields = ("order", "title", "slug", "published")
    prepopulated_fields = {"slug": ("title",)}
    extra = 0
    show_change_link = True


class SectionInline(admin.TabularInline):
    model = Section
    fields = ("order", "title", "slug", "published")
    prepopulated_fields = {"slug": ("title",)}
    extra = 0
    show_change_link = True


@admin.register(Course)
class CourseAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "published")
    list_filter = ("published",)
    search_fields = ("title", "summary")
    prepopulated_fields = {"slug": ("title",)}
    inlines = [ModuleInline]
    actions = [make_published, make_draft]


@admin.register(Module)
class ModuleAdmin(admin.ModelAdmin):
    list_display = ("title", "course", "order", "published")
    list_filter = ("published", "course")
    search_fields = ("title",)
    prepopulated_fields = {"slug": ("title",)}
    inlines = [LessonInline]
    actions = [make_published, make_draft]


class QuestionInline(admin.TabularInline):
    model = Question
    fields = ("order", "slug", "kind", "section", "published")
    extra = 0
    show_change_link = True


@admin.register(Lesson)
class LessonAdmin(admin.ModelAdmin):
    list_display = ("title", "module", "order", "published")
    list_editable = ("order", "published")
    list_filter = ("published", "module__course", "module")
    search_fields = ("title", "summary", "sections__body")
    prepopulated_fields = {"slug": ("title",)}
    inlines = [SectionInline, QuestionInline]
    actions = [make_published, make_draft]


class MarkdownPreviewAdmin(admin.ModelAdmin):
    """Adds a live preview beside the Markdown field named `preview_field`."""

    preview_field = "body"
    change_form_template = "admin/markdown_preview_change_form.html"

    def get_urls(self):
        opts = self.model._meta
        preview = admin_preview_view
        return [
            path(
                "preview/",
                self.admin_site.admin_view(preview),
                name=f"{opts.app_label}_{opts.model_name}_preview",
            ),
        ] + super().get_urls()

    def render_change_form(self, request, context, *args, **kwargs):
        opts = self.model._meta
        context["preview_field"] = self.preview_field
        context["preview_url_name"] = f"admin:{opts.app_label}_{opts.model_name}_preview"
        return super().render_change_form(request, context, *args, **kwargs)


PREVIEW_FIELDS = {"markdown", "body", "instructions", "prompt"}


@staff_member_required
@require_POST
def admin_preview_view(request):
    """Render posted Markdown through the same pipeline as the lesson pages."""
    field = request.POST.get("field", "markdown")
    source = request.POST.get(field if field in PREVIEW_FIELDS else "markdown", "")
    rendered = render_markdown(source, anchor_prefix="preview")
    return render(request, "admin/_markdown_preview.html", {"rendered": rendered})


@admin.register(Section)
class SectionAdmin(MarkdownPreviewAdmin):
    list_display = ("title", "lesson", "order", "published", "updated_at")
    list_editable = ("order", "published")
    list_filter = ("published", "lesson__module__course", "lesson")
    search_fields = ("title", "body")
    prepopulated_fields = {"slug": ("title",)}
    actions = [make_published, make_draft]


class ChoiceInline(admin.TabularInline):
    model = Choice
    fields = ("order", "text", "correct")
    extra = 0


@admin.register(Question)
class QuestionAdmin(MarkdownPreviewAdmin):
    """A knowledge-check question: the prompt (with its snippet) gets the sections' live preview."""

    preview_field = "prompt"
    list_display = ("slug", "lesson", "kind", "order", "published", "updated_at")
    list_editable = ("order", "published")
    list_filter = ("published", "kind", "lesson__module__course", "lesson")
    search_fields = ("slug", "prompt", "explanation", "choices__text")
    fields = ("lesson", "slug", "kind", "section", "order", "published", "prompt", "explanation")
    inlines = [ChoiceInline]
    actions = [make_published, make_draft]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "section":
            kwargs["queryset"] = Section.objects.select_related("lesson")
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "section":
            field.label_from_instance = lambda section: f"{section.lesson.slug} / {section.title}"
        return field
