"""The sign-up form: a username and a password, and an optional email for the instructors'
grade export (the CSV's `email` column)."""

from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

EMAIL_HELP = "Optional. Your instructor sees it next to your grades; Drydock sends no email."


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=False, help_text=EMAIL_HELP)

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")
