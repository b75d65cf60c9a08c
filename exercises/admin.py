from django.contrib import admin

from course.admin import MarkdownPreviewAdmin

from .models import ChecklistItem, Exercise


class ChecklistItemInline(admin.StackedInline):
    model = ChecklistItem
    fields = (("order", "check_id"), "title", "description", "hint", ("lesson_slug", "section_slug"))
    extra = 0


@admin.register(Exercise)
class ExerciseAdmin(MarkdownPreviewAdmin):
    preview_field = "instructions"
    list_display = ("title", "slug", "published")
    list_filter = ("published",)
    search_fields = ("title", "instructions")
    prepopulated_fields = {"slug": ("title",)}
    inlines = [ChecklistItemInline]
