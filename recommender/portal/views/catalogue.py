"""The catalogue page: the tenant's items, searched and filtered, with deactivation for analysts and above."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from recommender.data import selectors as data_selectors
from recommender.data import services as data_services
from recommender.data.importing.problems import UNSTORABLE
from tenants.models import Role
from tenants.portal.access import portal_view

from ..forms import CatalogueFilterForm

CATALOGUE_PAGE_SIZE = 50
# What a deactivation may carry back to the list it was made from.
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


@portal_view(Role.ANALYST)
@require_POST
def item_deactivate(request, item_id):
    """Take an item out of recommendations, then go back to the list it was deactivated from."""
    if UNSTORABLE.search(item_id):  # no stored id holds one, and PostgreSQL refuses to even compare it
        raise Http404("No such item.")
    item = data_selectors.get_item_or_404(request.tenant, item_id)
    if item.is_active:
        data_services.deactivate_item(actor=request.actor, item=item)
        messages.success(request, f"Deactivated {item.item_id}: it is no longer recommended.")
    else:
        messages.info(request, f"{item.item_id} was already deactivated.")
    back = _list_query(QueryDict(request.POST.get("list_query", "")))
    return redirect(reverse("portal:data_catalogue") + (f"?{back}" if back else ""))
