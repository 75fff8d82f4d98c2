"""The catalogue page: the tenant's items, searched and filtered; analysts and above deactivate and reactivate them."""

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from portal.access import portal_view
from recommender.data import selectors as data_selectors
from recommender.data import services as data_services
from recommender.data.importing.problems import UNSTORABLE
from tenants.models import Role

from ..forms import CatalogueFilterForm

CATALOGUE_PAGE_SIZE = 50
# What a deactivation or reactivation may carry back to the list it was made from.
LIST_PARAMETERS = ("q", "state", "page")


def _list_query(params):
    """The catalogue's own query parameters from ``params``, URL-encoded; anything else is dropped."""
    kept = QueryDict(mutable=True)
    for name in LIST_PARAMETERS:
        if params.get(name):
            kept[name] = params[name]
    return kept.urlencode()


@portal_view()
def catalogue(request):
    """The tenant's items, 50 a page, by item id or title and by state; sensitive features are masked."""
    form = CatalogueFilterForm(request.GET or None)
    items = data_selectors.search_catalogue(request.tenant, **form.filters())
    page = Paginator(items, CATALOGUE_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(item, data_selectors.shown_features(item.features)) for item in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "rows": rows,
        "query": query.urlencode(),
        "list_query": _list_query(request.GET),
    }
    return render(request, "portal/data/catalogue.html", context)


def _item_or_404(request, item_id):
    """The selected tenant's item ``item_id``; another tenant's item, or an id no item can have, is a 404."""
    if UNSTORABLE.search(item_id):  # no stored id holds one, and PostgreSQL refuses to even compare it
        raise Http404("No such item.")
    return data_selectors.get_item_or_404(request.tenant, item_id)


def _back_to_list(request):
    """Back to the list the change was made from."""
    back = _list_query(QueryDict(request.POST.get("list_query", "")))
    return redirect(reverse("portal:data_catalogue") + (f"?{back}" if back else ""))


@portal_view(Role.ANALYST)
@require_POST
def item_deactivate(request, item_id):
    """Take an item out of recommendations, then go back to the list it was deactivated from."""
    item = _item_or_404(request, item_id)
    if item.is_active:
        data_services.deactivate_item(actor=request.actor, item=item)
        messages.success(request, f"Deactivated {item.item_id}: it is no longer recommended.")
    else:
        messages.info(request, f"{item.item_id} was already deactivated.")
    return _back_to_list(request)


@portal_view(Role.ANALYST)
@require_POST
def item_reactivate(request, item_id):
    """Put a deactivated item back into recommendations, then go back to the list it was reactivated from."""
    item = _item_or_404(request, item_id)
    if not item.is_active:
        data_services.reactivate_item(actor=request.actor, item=item)
        # Each serving process re-reads the inactive items after LOCAL_CACHE_SECONDS (one by default).
        seconds = settings.PLATFORM["LOCAL_CACHE_SECONDS"]
        delay = "a second" if seconds <= 1 else f"{seconds} seconds"
        messages.success(request, f"Reactivated {item.item_id}: it can be recommended again within {delay}.")
    else:
        messages.info(request, f"{item.item_id} is already active.")
    return _back_to_list(request)
