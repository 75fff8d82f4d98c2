"""The platform's WSGI application with the feedback hooks taken out: ``bench/serve.py --feedback-cost``'s reference.

Serving as it was before issue 16: the deployed version answers (no experiment look-up), no
recommendation_id is drawn, no impression is queued (so the flusher thread never runs), no exploration
and no error guard. Everything else is the shipped code, so the difference is what closing the loop costs.
"""

# isort: off
from saas_platform.wsgi import application  # noqa: F401 - what gunicorn serves; it sets Django up first
from recommender.feedback import serving as feedback
from recommender.serving import services
from recommender.serving.loader import served_model

# isort: on


def _deployed_version(tenant, slug, user_id):
    served = served_model(tenant, slug)
    return feedback.RoutedModel(*feedback._fields(served), tenant_id=tenant.pk)


feedback.route = _deployed_version
feedback.record_impression = lambda served, user_id, items: ""
feedback.explore = lambda tenant, config_id, items, k, **filters: (items, frozenset())
for _name in ("recommend", "rank"):
    setattr(services, _name, getattr(services, _name).__wrapped__)  # without feedback.guarded
