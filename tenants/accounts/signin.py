"""The sign-in forms of the portal and of the operators' admin, which share one lock after repeated failures."""

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from core.http import client_address

from . import throttling


class SignInLock:
    """Locks a sign-in form for a while after repeated failures (see ``throttling``).

    Mixed into every sign-in form (the portal's and the operators' admin): they share one lock per
    username and address, so failures on one count on the other.
    """

    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": "Too many failed sign-ins. Try again in %(minutes)d minutes.",
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        address = client_address(self.request) if self.request else ""
        if throttling.is_locked(username, address):
            raise forms.ValidationError(
                self.error_messages["locked"], code="locked", params={"minutes": throttling.LOCK_SECONDS // 60}
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            throttling.record_failure(username, address)
            raise
        throttling.clear_failures(username, address)
        return cleaned


class LoginForm(SignInLock, AuthenticationForm):
    """Django's sign-in form with the sign-in lock."""


class AdminLoginForm(SignInLock, AdminAuthenticationForm):
    """The operators' admin sign-in form with the same lock: an operator locked out of the portal was
    not locked out of the admin."""

    error_messages = {**AdminAuthenticationForm.error_messages, "locked": SignInLock.error_messages["locked"]}
