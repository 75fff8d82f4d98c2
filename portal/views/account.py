"""Account pages: sign-up, invitations, creating and switching organisations."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.http import client_address
from tenants.accounts import services, throttling
from tenants.middleware import SESSION_KEY
from tenants.selectors import membership_for
from tenants.services import TenantError

from ..account_forms import InvitedSignUpForm, SignUpForm, SwitchTenantForm, TenantForm

# Sign-up and invitations create the user themselves, so there is no authenticate() call to name a backend.
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


RATES = {"signup": "SIGNUPS_PER_HOUR", "organisation": "ORGANISATIONS_PER_HOUR"}


def _within_rate(request, action, who):
    return throttling.take(action, who, limit=getattr(settings, RATES[action]), window_seconds=3600)


def _too_many(request, template, form, what):
    """429 with the form and why: the hourly limit of ``what``."""
    form.is_valid()  # so the page can show the form's fields as sent
    form.add_error(None, f"Too many {what} in the last hour; try again later.")
    return render(request, template, {"form": form}, status=429)


def _enter(request, tenant):
    """Make ``tenant`` the one the person works in and go to its dashboard."""
    request.session[SESSION_KEY] = tenant.pk
    return redirect("portal:dashboard")


def signup(request):
    """Self-serve sign-up: a new person with a new organisation they own."""
    if request.user.is_authenticated:
        return redirect("portal:dashboard")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and not _within_rate(request, "signup", client_address(request)):
        return _too_many(request, "registration/signup.html", form, "sign-ups from your address")
    if request.method == "POST" and form.is_valid():
        user, tenant = services.sign_up(
            username=form.cleaned_data["username"],
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
            organisation=form.cleaned_data["organisation"],
        )
        login(request, user, backend=MODEL_BACKEND)
        messages.success(request, f"Welcome! {tenant.name} is ready: start by uploading data.")
        return _enter(request, tenant)
    return render(request, "registration/signup.html", {"form": form})


def accept_invitation(request, token):
    """Join an organisation from an invitation link: signed in, or with a new account."""
    try:
        invitation = services.read_invitation(token)
    except TenantError as exc:
        return render(request, "registration/invitation.html", {"error": str(exc)}, status=400)
    form = None
    if not request.user.is_authenticated:
        form = InvitedSignUpForm(request.POST or None, instance=InvitedSignUpForm.Meta.model(email=invitation.email))
    if request.method == "POST" and (form is None or form.is_valid()):
        try:
            if form is None:
                services.accept_invitation(invitation=invitation, user=request.user)
            else:
                user = services.sign_up_invited(
                    invitation=invitation,
                    username=form.cleaned_data["username"],
                    password=form.cleaned_data["password1"],
                )
                login(request, user, backend=MODEL_BACKEND)
        except TenantError as exc:
            messages.error(request, str(exc))
        else:
            role = invitation.get_role_display().lower()
            messages.success(request, f"You joined {invitation.tenant.name} as {role}.")
            return _enter(request, invitation.tenant)
    return render(request, "registration/invitation.html", {"invitation": invitation, "form": form})


@login_required
def tenant_create(request):
    """A new organisation owned by the signed-in person (also where people without one land)."""
    form = TenantForm(request.POST or None)
    if request.method == "POST" and not _within_rate(request, "organisation", request.user.pk):
        return _too_many(request, "portal/tenant_create.html", form, "new organisations")
    if request.method == "POST" and form.is_valid():
        try:
            tenant = services.create_organisation(user=request.user, name=form.cleaned_data["name"])
        except TenantError as exc:
            form.add_error(None, str(exc))
            return render(request, "portal/tenant_create.html", {"form": form}, status=403)
        messages.success(request, f"{tenant.name} is ready.")
        return _enter(request, tenant)
    return render(request, "portal/tenant_create.html", {"form": form})


@login_required
@require_POST
def switch_tenant(request):
    """Work in another organisation the person belongs to; any other is a 404."""
    form = SwitchTenantForm(request.POST)
    membership = membership_for(request.user, form.cleaned_data["tenant"]) if form.is_valid() else None
    if membership is None:
        raise Http404("You are not a member of that organisation.")
    return _enter(request, membership.tenant)
