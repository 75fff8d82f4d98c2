"""Every page of the portal, for data of every kind and a model of every recipe, at a desk and on a phone.

A signed-in owner's browser follows every link the portal shows, from the
dashboard down, so a page nobody thought to test is still opened. Each page
must answer without an error, fit the width without scrolling sideways and,
at 1280 px, show its tables whole.
"""

import os
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

from ..walk_estate import build_walk_estate
from .test_browser import CHROMIUM, _live_server_media_url, browser  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian's Chromium is not installed at {CHROMIUM}"),
]

WIDTHS = (1280, 390)
# Links a walk must not follow: signing out ends the walk; the API and the admin are walked elsewhere.
NOT_WALKED = ("/accounts/logout", "/admin/", "/api/", "/media-not-served/")
MAX_PAGES = 400


def sign_in(page, world):
    page.goto("/accounts/login/")
    page.fill("input[name=username]", world.owner.username)
    page.fill("input[name=password]", "correct-horse-battery-staple")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def walk_links(page, origin, start):
    """Visit ``start`` and every same-origin page reachable by a link from it; yield ``(path, response, is_page)``."""
    queue, seen = list(start), set(start)
    while queue and len(seen) <= MAX_PAGES:
        path = queue.pop(0)
        # Downloads (CSV reports) are checked by status, not opened as pages.
        head = page.request.get(path, max_redirects=5)
        if "text/html" not in head.headers.get("content-type", ""):
            yield path, head, False
            continue
        response = page.goto(path)
        yield path, response, True
        hrefs = page.eval_on_selector_all("a[href]", "links => links.map(link => link.getAttribute('href'))")
        for href in hrefs:
            url = urldefrag(urljoin(page.url, href)).url
            parts = urlsplit(url)
            if f"{parts.scheme}://{parts.netloc}" != origin:
                continue
            found = parts.path + (f"?{parts.query}" if parts.query else "")
            if found not in seen and not found.startswith(NOT_WALKED):
                seen.add(found)
                queue.append(found)


def layout_problems(page, width):
    """What a person at ``width`` would see wrong: a page that scrolls sideways, a table cut off at a desk,
    a tab without the portal's icon (browsers then ask for /favicon.ico, a 404 on every page)."""
    problems = []
    icon = page.locator("link[rel=icon]")
    if icon.count() != 1 or page.request.get(icon.get_attribute("href")).status != 200:
        problems.append("has no icon")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    if overflow > 0:
        problems.append(f"scrolls sideways by {overflow}px")
    if width >= 1280:
        cut = page.evaluate(
            """() => [...document.querySelectorAll('.table-wrap')]
                .filter(wrap => wrap.scrollWidth > wrap.clientWidth + 1)
                .map(wrap => (wrap.closest('section, .card')?.querySelector('h2')?.textContent || '?').trim())"""
        )
        problems += [f"the table of '{name}' is cut off" for name in cut]
    return problems


def test_every_page_for_every_kind_and_recipe_opens_and_fits(browser, live_server):  # noqa: F811
    from ..conftest import TenantWorld

    world = TenantWorld("Walker")
    estate = build_walk_estate(world.tenant)
    # Where the walk starts: what it must reach whether or not a link leads there.
    expected = {"/", "/data/", "/models/", "/try/"}
    expected |= {f"/data/{dataset.pk}/" for dataset in estate.datasets.values()}
    expected |= {f"/data/imports/{job.pk}/" for job in estate.imports}
    for recipe, slug in estate.models.items():
        expected |= {f"/models/{slug}/", f"/models/{slug}/versions/", f"/runs/{estate.runs[recipe].pk}/"}

    problems = []
    for width in WIDTHS:
        context = browser.new_context(base_url=live_server.url, viewport={"width": width, "height": 900})
        page = context.new_page()
        page.set_default_timeout(20_000)
        failed_resources = []
        page.on(
            "response",
            lambda response, bad=failed_resources: bad.append(f"{response.status} {response.url}")
            if response.status >= 400 and response.request.resource_type != "document"
            else None,
        )
        sign_in(page, world)
        for path, response, is_page in walk_links(page, live_server.url, sorted(expected)):
            if response.status >= 400:
                problems.append(f"{path} at {width}px answered {response.status}")
            elif is_page:
                problems += [f"{path} at {width}px {problem}" for problem in layout_problems(page, width)]
        problems += [f"at {width}px a page asked for {failed}" for failed in sorted(set(failed_resources))]
        context.close()
    assert not problems, "\n".join(problems)
