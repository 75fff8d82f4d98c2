"""The privacy page: pseudonymisation of end-user ids, and erasing one end user's data.

Both changes need the role the API asks of a signed-in person for the same
change (analyst: the ``manage`` and ``ingest`` scopes); the services audit them.
"""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.errors import DomainError
from portal.access import portal_view
from recommender.data import services as data_services
from recommender.data.privacy import data_settings
from tenants.models import Role

from ..forms import EraseEndUserForm, PseudonymisationForm
from ..problems import problem_message


def _privacy_page(request, erase_form=None):
    found = data_settings(request.tenant)
    context = {
        "settings": found,
        "pseudonymisation_form": PseudonymisationForm(initial={"pseudonymize_user_ids": found.pseudonymize_user_ids}),
        "erase_form": erase_form or EraseEndUserForm(),
    }
    return render(request, "portal/data/privacy.html", context)


@portal_view()
def privacy(request):
    """Whether user ids are pseudonymised, and the forms that switch it and erase an end user."""
    return _privacy_page(request)


@portal_view(Role.ANALYST)
@require_POST
def pseudonymisation_update(request):
    """Switch pseudonymisation; the service refuses while user data is stored, and then nothing changes."""
    form = PseudonymisationForm(request.POST)
    form.is_valid()  # a lone optional checkbox: anything posted reads as on or off
    wanted = form.cleaned_data["pseudonymize_user_ids"]
    try:
        data_services.update_data_settings(actor=request.actor, pseudonymize_user_ids=wanted)
    except DomainError as exc:
        messages.error(request, problem_message(exc))
    else:
        messages.success(request, "User ids are now pseudonymised." if wanted else "User ids are now stored as sent.")
    return redirect("portal:data_privacy")


def _count(number, singular, plural):
    return f"{number} {singular if number == 1 else plural}"


@portal_view(Role.ANALYST)
@require_POST
def end_user_erase(request):
    """Erase an end user's interactions and features, and stop personalising for them."""
    form = EraseEndUserForm(request.POST)
    if not form.is_valid():
        return _privacy_page(request, erase_form=form)
    counts = data_services.erase_end_user(actor=request.actor, raw_user_id=form.cleaned_data["user_id"])
    interactions, features = counts["interactions_deleted"], counts["features_deleted"]
    # The id itself is not repeated back: the point of the page is to forget it.
    removed = (
        f"{_count(interactions, 'interaction', 'interactions')} and "
        f"{_count(features, 'feature record', 'feature records')} removed"
    )
    if interactions or features:
        messages.success(request, f"Erased the end user: {removed}. Recommendations for them now use the fallback.")
    else:
        messages.warning(
            request,
            f"Nothing was stored under that user id ({removed}). It is marked erased, "
            "so recommendations for it use the fallback.",
        )
    return redirect("portal:data_privacy")
