"""The portal in a real browser: a new customer's journey from sign-up to an API call, at two widths.

Headless Debian Chromium driven by Playwright against ``live_server``; imports
(and training) run eagerly inside the server, so each step finishes while the
page polls. Screenshots of each step go to tests/artifacts/screenshots/.
"""

import os
from pathlib import Path

import pytest
import requests
from django.test import override_settings

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
PASSWORD = "a-long-enough-passphrase-42"
CATALOGUE_CSV = "item_id,title,categories\n" + "".join(
    f"i{n},Book {n},{'fiction' if n % 2 else 'science'}\n" for n in range(40)
)
CLICKS_CSV = "user_id,item_id,timestamp,event_type\n" + "".join(
    f"u{user},i{(user * 7 + step * step) % 40},2026-01-{1 + (user + 3 * step) % 28:02d}T10:00:00Z,view\n"
    for user in range(60)
    for step in range(8)
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian's Chromium is not installed at {CHROMIUM}"),
]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread, which makes Django refuse the
    # test's own (synchronous) database calls unless told they are safe.
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session", autouse=True)
def _live_server_media_url(django_db_setup):
    """Django's live server wraps a media-files handler that cannot take the project's ``MEDIA_URL = None``;
    a URL that nothing serves keeps uploads just as private. It must be set before ``live_server`` starts,
    and the test database must outlive the server (hence ``django_db_setup`` first)."""
    with override_settings(MEDIA_URL="/media-not-served/"):
        yield


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.on("dialog", lambda dialog: dialog.accept())
    # Chromium reports each script, style or image the Content-Security-Policy blocked on the console.
    violations = []
    page.on("console", lambda message: "Content Security Policy" in message.text and violations.append(message.text))
    yield page
    context.close()
    assert not violations, f"the portal's own pages break its Content-Security-Policy: {violations}"


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def sign_up(page, username="ana"):
    page.goto("/accounts/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password:", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_label("Organisation").fill("Ana's Books")
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Ana's Books").wait_for()


def go(page, section):
    """Follow a link of the main navigation."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=section, exact=True).click()


def upload(page, tmp_path, name, kind, content, rows):
    go(page, "Data")
    page.get_by_role("link", name="New dataset").first.click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Kind").select_option(kind)
    page.get_by_role("button", name="Create dataset").click()
    path = tmp_path / f"{kind}.csv"
    path.write_text(content)
    page.get_by_label("File").set_input_files(path)
    page.get_by_role("button", name="Upload and import").click()
    page.get_by_text(f"Imported {rows} of {rows} rows.").wait_for()


def upload_clicks(page, tmp_path):
    upload(page, tmp_path, "Clicks", "interactions", CLICKS_CSV, 480)


def create_model(page):
    go(page, "Models")
    page.get_by_role("link", name="New model").first.click()
    page.get_by_label("Name:").fill("Book picks")
    # Choosing another recipe reloads the form with that recipe's parameters (portal.js).
    page.get_by_label("Recipe:").select_option("neumf")
    page.get_by_role("group", name="Parameters of neumf").wait_for()
    page.get_by_label("epochs").fill("4")
    page.get_by_label("Deploy new versions").select_option("never")
    shot(page, "04-model-form")
    page.get_by_role("button", name="Create model").click()
    page.get_by_text("Created Book picks.").wait_for()


def test_journey_from_sign_up_to_an_api_call(page, live_server, tmp_path, celery_worker):
    """With a real worker, so the import and the training run while their pages poll."""
    sign_up(page)
    shot(page, "01-dashboard-new")

    upload_clicks(page, tmp_path)
    shot(page, "02-import-done")

    page.get_by_role("link", name="See the dataset's statistics").click()
    page.locator('svg[aria-label="Users by number of interactions"]').wait_for()
    assert page.locator("svg[role=img]").count() == 3
    shot(page, "03-statistics")

    upload(page, tmp_path, "Catalogue", "items", CATALOGUE_CSV, 40)
    create_model(page)
    page.get_by_role("button", name="Train now").click()
    assert page.locator("progress[data-field=progress]").count() == 1
    page.locator(".page-header .badge-succeeded").wait_for(timeout=90_000)
    assert page.locator('svg[aria-label^="Loss per epoch"] polyline').count() >= 1
    assert page.get_by_role("rowheader", name="ndcg@10").count() == 1
    shot(page, "05-run-finished")

    # The first version serves at once; with auto-deploy off, a second one waits to be deployed.
    page.get_by_role("link", name="Book picks").click()
    page.get_by_role("button", name="Train now").click()
    page.locator(".page-header .badge-succeeded").wait_for(timeout=90_000)
    page.get_by_text("auto-deploy is off; v1 keeps serving").wait_for()
    page.get_by_role("button", name="Deploy v2").click()
    page.get_by_text("Version 2 of Book picks now serves.").wait_for()
    page.get_by_role("link", name="Compare side by side").click()
    shot(page, "06-versions")

    go(page, "Try it")
    recommendations = page.get_by_role("region", name="Recommendations for a user")
    recommendations.get_by_label("User id").fill("u3")
    recommendations.get_by_role("button", name="Recommend").click()
    assert page.locator(".result tbody tr").count() == 10
    assert page.locator(".result tbody tr").first.get_by_role("cell", name="Book ").count() == 1
    shot(page, "07-try-it")

    go(page, "API keys")
    page.get_by_label("Name").fill("web shop")
    page.get_by_role("button", name="Create key").click()
    full_key = page.locator("#new-key").inner_text()
    shot(page, "08-api-key-created")

    # "Connection: close" lets the live server's request thread end (and close its database connection) at once.
    headers = {"Authorization": f"Api-Key {full_key}", "Connection": "close"}
    url = f"{live_server.url}/api/v1/models/book-picks/recommendations?user_id=u3&k=3"
    answer = requests.get(url, headers=headers, timeout=10)
    assert answer.status_code == 200
    assert (answer.json()["version"], len(answer.json()["items"])) == (2, 3)

    page.get_by_role("button", name="Revoke web shop").click()
    page.get_by_text("calls with it now fail").wait_for()
    assert requests.get(url, headers=headers, timeout=10).status_code == 401

    go(page, "Dashboard")
    shot(page, "10-dashboard")


def test_pages_fit_a_phone_and_work_from_the_keyboard(page, tmp_path):
    sign_up(page, "kim")
    upload_clicks(page, tmp_path)
    page.set_viewport_size({"width": 360, "height": 800})
    for path in ("/", "/data/", page.url, "/api-keys/", "/members/", "/usage/", "/audit-log/"):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 360px"
    page.goto("/")
    shot(page, "09-dashboard-phone")

    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
