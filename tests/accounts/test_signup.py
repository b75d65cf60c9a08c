"""Sign-up asks for an optional email, which the instructors' grade export then shows."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-pass-42"


def test_sign_up_offers_an_optional_email(client):
    page = client.get("/accounts/signup/").content.decode()
    assert 'name="email"' in page and "Optional." in page
    client.post(
        "/accounts/signup/", {"username": "noemail", "password1": PASSWORD, "password2": PASSWORD}
    )
    client.post(
        "/accounts/signup/",
        {
            "username": "ada",
            "email": "ada@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    emails = dict(get_user_model().objects.values_list("username", "email"))
    assert emails == {"noemail": "", "ada": "ada@example.com"}


def test_a_malformed_email_is_refused_with_the_input_kept(client):
    response = client.post(
        "/accounts/signup/",
        {"username": "bob", "email": "not-an-email", "password1": PASSWORD, "password2": PASSWORD},
    )
    page = response.content.decode()
    assert response.status_code == 200 and "Enter a valid email address." in page
    assert 'value="bob"' in page and not get_user_model().objects.exists()
