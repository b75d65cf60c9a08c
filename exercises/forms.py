"""The submission form: two editors (or uploads), an optional .dockerignore and extra files.

The form only collects files; `services.submission_files_clean` decides what is acceptable
(with the grader's own rules and limits, exercises.grading.files), and its messages land on the
matching fields. Uploads stay bytes; pasted text is encoded once. Nothing the learner typed is lost on an error:
pasted text comes back in the editors, uploaded text files come back as editor text or as
"kept" extra files.
"""

from __future__ import annotations

from django import forms
from django.urls import reverse

from . import services
from .services.archives import archive_files

# form field → file name in the submission
EDITORS = {
    "dockerfile": services.DOCKERFILE,
    "compose": services.COMPOSE_FILE,
    "dockerignore": services.DOCKERIGNORE,
}
FIELD_OF = {name: field for field, name in EDITORS.items()}
TEXTAREA = {
    "rows": 18,
    "spellcheck": "false",
    "autocapitalize": "off",
    "autocomplete": "off",
    "wrap": "off",
    "class": "code-editor",
}


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


def _editor(label: str, language: str, *, name: str, required_note: bool) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        widget=forms.Textarea(
            attrs={**TEXTAREA, "data-language": language, "aria-describedby": f"{name}-help"}
        ),
        help_text="Required." if required_note else "Optional.",
    )


class SubmissionForm(forms.Form):
    dockerfile = _editor("Dockerfile", "dockerfile", name="dockerfile", required_note=True)
    dockerfile_upload = forms.FileField(
        label="…or upload your Dockerfile", required=False, allow_empty_file=True
    )
    compose = _editor("docker-compose.yml", "yaml", name="compose", required_note=True)
    compose_upload = forms.FileField(
        label="…or upload your compose file", required=False, allow_empty_file=True
    )
    dockerignore = _editor(".dockerignore", "text", name="dockerignore", required_note=False)
    dockerignore_upload = forms.FileField(
        label="…or upload your .dockerignore", required=False, allow_empty_file=True
    )
    archive = forms.FileField(
        label="…or upload your project as a .zip",
        required=False,
        help_text="Replaces the files above; executable scripts (an entrypoint) stay executable.",
    )
    extra_files = MultipleFileField(
        label="Extra files (optional)",
        required=False,
        allow_empty_file=True,
        help_text=(
            "Small text files your set-up needs, e.g. a config file. At most "
            f"{services.MAX_FILES} files in all, 256 KiB each, 1 MiB together."
        ),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in EDITORS:  # the highlighted preview under each editor (htmx, debounced)
            self.fields[field].widget.attrs.update({
                "hx-post": reverse("exercises:preview", kwargs={"field": field}),
                "hx-trigger": "input changed delay:400ms, load[this.value.length > 0]",
                "hx-target": f"#preview-{field}",
                "hx-params": field,
                "hx-sync": "this:replace",
            })  # fmt: skip
        self.submission_files: dict[str, bytes | str] = {}  # validated, as the request sent them
        self.kept: dict[str, str] = {}  # extra files carried over to the next try
        self.executables: set[str] = set()  # files of a .zip upload with an execute bit
        self.prefilled_from = None  # the submission whose files the editors start with

    def _keep_text(self, field: str, raw: bytes) -> None:
        """Put an uploaded file's text back into its editor, so a re-rendered form keeps it."""
        if len(raw) > services.MAX_FILE_BYTES:
            return
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return
        self.data = self.data.copy()
        self.data[field] = text

    def clean(self):
        cleaned = super().clean()
        files: dict[str, bytes | str] = {}
        for field, name in EDITORS.items():
            upload = cleaned.get(f"{field}_upload")
            if upload:
                raw = upload.read()
                files[name] = raw
                self._keep_text(field, raw)
            elif (cleaned.get(field) or "").strip():
                files[name] = cleaned[field].replace("\r\n", "\n")
        drops = set(self.data.getlist("kept_drop")) if hasattr(self.data, "getlist") else set()
        carried = (
            zip(self.data.getlist("kept_name"), self.data.getlist("kept_content"), strict=False)
            if hasattr(self.data, "getlist")
            else []
        )
        extras: dict[str, bytes | str] = {
            name: text.replace("\r\n", "\n") for name, text in carried if name not in drops
        }
        for upload in cleaned.get("extra_files") or []:
            extras[upload.name] = upload.read()
        for name, content in extras.items():
            if name in FIELD_OF:
                self.add_error("extra_files", services.FILE_RESERVED_NAME.format(name=name))
            elif name in files:
                self.add_error("extra_files", services.FILE_DUPLICATE.format(name=name))
            else:
                files[name] = content
        self.kept = {
            n: c.decode("utf-8", "replace") if isinstance(c, bytes) else c
            for n, c in extras.items()
            if n not in FIELD_OF and _is_text(c)
        }
        archive = cleaned.get("archive")
        if archive:
            try:
                files, self.executables = archive_files(data=archive.read())
            except services.SubmissionError as error:
                for message in (m for messages in error.errors.values() for m in messages):
                    self.add_error("archive", message)
                return cleaned
        try:
            services.submission_files_clean(files=files)
            self.submission_files = files  # uploads stay bytes up to the grader
        except services.SubmissionError as error:
            for name, messages in error.errors.items():
                field = FIELD_OF.get(name, "extra_files" if name != services.ALL_FILES else None)
                for message in messages:
                    self.add_error(field, message)
            self.kept = {n: c for n, c in self.kept.items() if n not in error.errors}
        return cleaned


def _is_text(content: bytes | str) -> bool:
    if isinstance(content, str):
        return len(content.encode("utf-8")) <= services.MAX_FILE_BYTES
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return len(content) <= services.MAX_FILE_BYTES and b"\x00" not in content
