"""What a new user saw wrong on pages (issue 13), in a real browser: the run page's progress model."""

import os

import pytest

from recommender.training.models import RunStatus, TrainingRun
from recommender.training.services import configs
from tenants.audit import Actor

from ..factories import make_interactions_dataset
from .test_browser import CHROMIUM, _live_server_media_url, browser  # noqa: F401 (fixtures)
from .test_walk_pages import sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian's Chromium is not installed at {CHROMIUM}"),
]


@pytest.fixture
def page(browser, live_server):  # noqa: F811
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def test_the_run_badge_and_line_follow_the_run_as_it_goes(page):
    from ..conftest import TenantWorld

    world = TenantWorld("Runner")
    dataset = make_interactions_dataset(world.tenant)
    config = configs.create_config(actor=Actor.system(world.tenant), name="recs", dataset=dataset, recipe="neumf")
    run = TrainingRun.objects.create(tenant=world.tenant, config=config, recipe="neumf", params=config.params)
    sign_in(page, world)
    page.goto(f"/runs/{run.pk}/")
    badge, line = page.locator(".page-header .badge"), page.locator("[data-field=progress_line]")
    assert badge.inner_text() == "Queued"
    assert line.inner_text() == "Queued: waiting for a worker"

    # As a worker reports it: evaluation is a stage of its own, with its own epochs.
    TrainingRun.objects.unscoped().filter(pk=run.pk).update(
        status=RunStatus.RUNNING, stage="evaluating", current_epoch=3, total_epochs=20, progress=0.1025
    )
    page.locator(".page-header .badge-running").wait_for()
    page.get_by_text("Running · evaluating on a held-out split: epoch 3 of 20 · 10%").wait_for()

    TrainingRun.objects.unscoped().filter(pk=run.pk).update(
        stage="training", current_epoch=9, total_epochs=20, progress=0.6525
    )
    page.get_by_text("Running · training on all the data: epoch 9 of 20 · 65%").wait_for()
    assert badge.inner_text() == "Running"
    assert page.locator("progress[data-field=progress]").evaluate("bar => bar.value") == pytest.approx(0.6525)
