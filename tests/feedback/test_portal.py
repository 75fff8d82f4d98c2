"""The portal's online-metrics and experiment pages, signed in as members of different roles."""

import re

from django.urls import reverse

from recommender.feedback import services
from recommender.feedback.models import Experiment, FeedbackSettings
from tenants.audit import Actor
from tenants.models import Role

from ..factories import add_member
from ..portal.conftest import signed_in
from .conftest import settle
from .test_experiments import AB, _run_traffic, two_versions  # noqa: F401 - the fixture


def test_the_metrics_page_charts_rates_with_their_intervals(served):
    answer = served.client.get("/api/v1/models/recs/recommendations", {"user_id": "u1"}).json()
    event = {"user_id": "u1", "item_id": answer["items"][0]["item_id"], "event_type": "click",
             "recommendation_id": answer["recommendation_id"]}  # fmt: skip
    served.client.post("/api/v1/events", {"events": [event]}, format="json")
    served.client.get("/api/v1/models/recs/recommendations", {"user_id": "u2"})
    settle()
    viewer = signed_in(add_member(served.tenant, role=Role.VIEWER), served.tenant)
    page = viewer.get(reverse("portal:feedback_metrics")).content.decode()
    assert "Click-through rate" in page and "Revenue per 1,000 impressions" in page
    assert re.search(r"<polygon points=\"[\d., ]+\">", page), "the confidence band is drawn"
    assert "recs v1" in page and "0.5000" in page, "CTR of the two impressions in the totals"
    assert 'action="/online/settings/"' not in page, "viewers cannot change what counts"


def test_an_analyst_changes_what_counts_and_bad_values_are_refused(served):
    analyst = signed_in(add_member(served.tenant, role=Role.ANALYST), served.tenant)
    form = {
        "click_event_types": "click, add_to_cart",
        "conversion_event_types": "purchase",
        "revenue_event_types": "purchase",
        "estimated_window_minutes": 30,
        "metrics_retention_days": 30,
    }
    response = analyst.post(reverse("portal:feedback_settings_update"), form)
    assert response.status_code == 302
    found = FeedbackSettings.objects.get(tenant=served.tenant)
    assert found.click_event_types == ["click", "add_to_cart"] and found.estimated_window_minutes == 30
    refused = analyst.post(reverse("portal:feedback_settings_update"), {**form, "estimated_window_minutes": 0})
    assert refused.status_code == 200 and "greater than or equal to 1" in refused.content.decode()
    many = ", ".join(f"type{n}" for n in range(21))
    refused = analyst.post(reverse("portal:feedback_settings_update"), {**form, "click_event_types": many})
    assert "At most 20 event types, not 21." in refused.content.decode()
    assert FeedbackSettings.objects.get(tenant=served.tenant).click_event_types == ["click", "add_to_cart"]


def test_experiments_are_started_read_and_promoted_in_the_portal(two_versions):  # noqa: F811
    world = two_versions
    analyst = signed_in(add_member(world.tenant, role=Role.ANALYST), world.tenant)
    bad = analyst.post(
        reverse("portal:feedback_experiment_create"),
        {"name": "t", "model": "recs", "metric": "ctr", "arms": "control 1 50\nchallenger 2 40"},
    )
    assert "sum to 90%" in bad.content.decode() and not Experiment.objects.unscoped().exists()
    for arms, reason in (
        ("control 1 50\nchallenger two 50", "Line 2: the version and the split are whole numbers."),
        ("control 1 50\nchallenger 9 50", "Model &#x27;recs&#x27; has no version 9."),  # the API's words
        ("control 1 100", "Write 2 to 10 arms, one a line; there are 1."),
    ):
        refused = analyst.post(
            reverse("portal:feedback_experiment_create"), {"name": "t", "model": "recs", "metric": "ctr", "arms": arms}
        )
        assert reason in refused.content.decode() and not Experiment.objects.unscoped().exists()
    started = analyst.post(
        reverse("portal:feedback_experiment_create"),
        {"name": "v2 vs v1", "model": "recs", "metric": "ctr", "arms": "control 1 50\nchallenger 2 50"},
    )
    experiment = Experiment.objects.unscoped().get()
    assert started.status_code == 302 and experiment.arms.get(name="control").is_control
    _run_traffic(world, [f"s{n}" for n in range(400)], {1: 0.1, 2: 0.6})
    page = analyst.get(reverse("portal:feedback_experiment", args=[experiment.pk])).content.decode()
    assert "Winner: <strong>challenger</strong>" in page and "Always-valid p" in page
    assert "Promote the winner" in page and "Sample ratio mismatch" not in page
    viewer = signed_in(add_member(world.tenant, role=Role.VIEWER), world.tenant)
    assert viewer.post(reverse("portal:feedback_experiment_promote", args=[experiment.pk])).status_code == 403
    analyst.post(reverse("portal:feedback_experiment_promote", args=[experiment.pk]))
    assert world.client.get("/api/v1/models/recs").json()["deployment"]["version"] == 2


def test_guardrails_are_set_in_the_portal_and_a_stopped_arm_is_shown_with_its_reason(two_versions):  # noqa: F811
    world = two_versions
    analyst = signed_in(add_member(world.tenant, role=Role.ANALYST), world.tenant)
    form = {"name": "g", "model": "recs", "metric": "ctr", "arms": "control 1 50\nchallenger 2 50",
            "max_error_rate_increase": "0.02", "max_latency_increase": "", "guardrail_min_requests": "50"}  # fmt: skip
    assert analyst.post(reverse("portal:feedback_experiment_create"), form).status_code == 302
    experiment = Experiment.objects.unscoped().get()
    assert (experiment.max_error_rate_increase, experiment.max_latency_increase) == (0.02, None)
    assert experiment.guardrail_min_requests == 50
    page = analyst.get(reverse("portal:feedback_experiment", args=[experiment.pk])).content.decode()
    assert "more than 0.02" in page and "Arm “challenger” stopped" not in page
    services.stop_arm(actor=Actor.system(world.tenant), arm=experiment.arms.get(name="challenger"),
                      reason="Guardrail: error rate 9.00% against the control's 0.00%.")  # fmt: skip
    page = analyst.get(reverse("portal:feedback_experiment", args=[experiment.pk])).content.decode()
    assert "Arm “challenger” stopped" in page and "error rate 9.00%" in page
    assert "Every other arm was stopped by a guardrail." in page


def test_another_tenants_experiment_is_a_404_in_the_portal(two_versions, tenant_b):  # noqa: F811
    experiment_id = two_versions.client.post(
        "/api/v1/experiments", {"name": "x", "model": "recs", "arms": AB}, format="json"
    ).json()["id"]
    outsider = signed_in(tenant_b.owner, tenant_b.tenant)
    assert outsider.get(reverse("portal:feedback_experiment", args=[experiment_id])).status_code == 404
    assert outsider.post(reverse("portal:feedback_experiment_stop", args=[experiment_id])).status_code == 404
