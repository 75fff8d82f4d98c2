"""Try it: recommendations for a user or an anonymous session, items like an item, items ranked for a user,
a prediction for a filled-in row."""

from django.shortcuts import render

from portal.access import portal_view
from recommender import ml
from recommender.data import selectors as data_selectors
from recommender.serving import services as serving
from recommender.training import selectors as training_selectors

from ..forms import PredictForm, RankForm, RecommendForm, SessionForm, SimilarItemsForm


def _deployed_models(tenant):
    """Deployed models, each with its recipe, grouped by what they can answer."""
    groups = {"recommend": [], "similar_items": [], "rank": [], "predict": []}
    for config in training_selectors.configs_of(tenant).filter(deployment__isnull=False):
        supports = ml.get_recipe(config.deployment.version.recipe).supports
        for operation, configs in groups.items():
            if operation in supports:
                configs.append(config)
    return groups


def _with_titles(tenant, answer):
    titles = data_selectors.item_titles(tenant, [entry["item_id"] for entry in answer["items"]])
    for entry in answer["items"]:
        entry["title"] = titles.get(entry["item_id"], "")
    return answer


def _bound(request, name, method="GET"):
    """This form's data when it is the one submitted (each form names itself in ``try``)."""
    data = request.POST if method == "POST" else request.GET
    return data if request.method == method and data.get("try") == name else None


def _ask(form, question):
    """Ask serving ``question()`` when the form is valid; a refusal becomes the form's error."""
    if form.is_bound and form.is_valid():
        try:
            return question()
        except serving.ModelNotFound:
            form.add_error("model", "That model no longer exists.")
        except serving.ServingError as exc:
            form.add_error(None, str(exc))
    return None


def _prediction_model(request, configs):
    """The prediction model whose columns the form shows: the one chosen, else the first."""
    chosen = request.GET.get("predict-model")
    return next((config for config in configs if config.slug == chosen), configs[0] if configs else None)


@portal_view()
def try_it(request):
    """Ask the deployed models, as the API would, from four forms.

    Ranking is posted, not a query: 500 item ids do not fit in a URL that
    every proxy and gunicorn accept.
    """
    tenant = request.tenant
    models = _deployed_models(tenant)
    recommend = RecommendForm(_bound(request, "recommend"), configs=models["recommend"], prefix="recommend")
    session = SessionForm(_bound(request, "session", "POST"), configs=models["recommend"], prefix="session")
    similar = SimilarItemsForm(_bound(request, "similar"), configs=models["similar_items"], prefix="similar")
    rank = RankForm(_bound(request, "rank", "POST"), configs=models["rank"], prefix="rank")
    predict_model = _prediction_model(request, models["predict"])
    predict = PredictForm(
        _bound(request, "predict"),
        configs=models["predict"],
        columns=predict_model.deployment.version.data_snapshot.get("columns", []) if predict_model else [],
        initial={"model": predict_model.slug if predict_model else None},
        prefix="predict",
    )

    def recommendations():
        data = recommend.cleaned_data
        answer = serving.recommend(
            tenant, data["model"], data["user_id"], k=data["k"], exclude_seen=data["exclude_seen"]
        )
        return _with_titles(tenant, answer)

    def session_recommendations():
        data = session.cleaned_data
        answer = serving.recommend_session(
            tenant, data["model"], data["item_ids"], k=data["k"], exclude_seen=data["exclude_seen"]
        )
        return _with_titles(tenant, answer)

    def similar_items():
        data = similar.cleaned_data
        return _with_titles(tenant, serving.similar_items(tenant, data["model"], data["item_id"], k=data["k"]))

    def ranked():
        data = rank.cleaned_data
        return _with_titles(tenant, serving.rank(tenant, data["model"], data["user_id"], data["item_ids"]))

    context = {
        "models": models,
        "recommend_form": recommend,
        "session_form": session,
        "similar_form": similar,
        "rank_form": rank,
        "predict_form": predict,
        "recommendations": _ask(recommend, recommendations),
        "session_recommendations": _ask(session, session_recommendations),
        "similar_items": _ask(similar, similar_items),
        "ranked": _ask(rank, ranked),
        "prediction": _ask(predict, lambda: serving.predict(tenant, predict.cleaned_data["model"], [predict.row()])),
    }
    return render(request, "portal/tryit/try_it.html", context)
