"""Forms of the account and access pages."""

from datetime import datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm
from django.utils import timezone

from tenants.models import ApiKeyScope, Role

DATE_INPUT = forms.DateInput(attrs={"type": "date"})


class SignUpForm(UserCreationForm):
    """A new person and the organisation they will own."""

    organisation = forms.CharField(max_length=200, help_text="Your company or team; you can rename it later.")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        self.fields["email"].help_text = "For password resets and invitations."


class InvitedSignUpForm(UserCreationForm):
    """An account for an invited person; the email address comes from the invitation."""

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username",)


class TenantForm(forms.Form):
    """An organisation's display name."""

    name = forms.CharField(label="Organisation name", max_length=200)


class InviteForm(forms.Form):
    """Whom to invite, and with which role."""

    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class ApiKeyForm(forms.Form):
    """A new API key: its name, what it may do and, optionally, the last day it works."""

    name = forms.CharField(max_length=100, help_text="Where the key is used, e.g. “web shop backend”.")
    scopes = forms.MultipleChoiceField(
        choices=ApiKeyScope.choices,
        initial=[ApiKeyScope.RECOMMEND],
        widget=forms.CheckboxSelectMultiple,
        help_text="Recommend: call models. Ingest: send events and items. Manage: datasets, models, training.",
    )
    expires_on = forms.DateField(
        required=False, widget=DATE_INPUT, help_text="Optional: the key stops working after this day."
    )

    def clean_expires_on(self):
        day = self.cleaned_data["expires_on"]
        if day is None:
            return None
        if day < timezone.localdate():
            raise forms.ValidationError("Choose today or a later day.")
        # The key works through the whole day chosen.
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=timezone.get_current_timezone())


class DeleteTenantForm(forms.Form):
    """The slug, typed to confirm a deletion."""

    confirmation = forms.CharField(label="Type the organisation's slug to confirm")


class AuditFilterForm(forms.Form):
    """Filters of the audit log; ``actors`` are ``(value, label)`` pairs like ``("user:3", "ana")``."""

    action = forms.ChoiceField(required=False)
    actor = forms.ChoiceField(required=False)
    since = forms.DateField(required=False, widget=DATE_INPUT, label="From")
    until = forms.DateField(required=False, widget=DATE_INPUT, label="To")

    def __init__(self, *args, actions=(), actors=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [("", "Any action"), *((action, action) for action in actions)]
        self.fields["actor"].choices = [("", "Anyone"), *actors]


class SwitchTenantForm(forms.Form):
    """The organisation to work in."""

    tenant = forms.IntegerField()
