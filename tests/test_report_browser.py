"""The committed report pages in a real headless Chromium: offline, no horizontal overflow, every link resolves."""
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from hgnlib.browser import INSTALL_HINT, find_chromium
from hgnlib.paths import repo_root

REPORTS = repo_root() / "reports" / "embedded-quick"
PAGES = sorted(REPORTS.glob("*.html"))
WIDTHS = (1280, 1400)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright import sync_api
    except ImportError:
        pytest.fail("playwright is missing; fix: `.venv/bin/pip install -e .[dev]` (or `python3 tasks.py setup`)")
    executable = find_chromium()
    with sync_api.sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        except sync_api.Error as exc:
            pytest.fail(f"no headless Chromium could start ({str(exc).splitlines()[0]}); {INSTALL_HINT}")
        yield chromium
        chromium.close()


def _open(browser, page_path: Path, width: int):
    """Load a page at ``width``; return the page and every URL it requested."""
    context = browser.new_context(viewport={"width": width, "height": 800}, java_script_enabled=True)
    page = context.new_page()
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(page_path.as_uri(), wait_until="load")
    return context, page, requested


def _link_problem(page_path: Path, href: str, ids_of) -> str | None:
    url = urlparse(href)
    if url.scheme in ("http", "https", "mailto"):
        return None  # a link out of the reports is followed only by the reader, never loaded by the page
    target = page_path if not url.path else (page_path.parent / unquote(url.path)).resolve()
    if not target.exists():
        return f"{href}: no file {target}"
    if url.fragment and not {url.fragment, unquote(url.fragment)} & ids_of(target):  # as browsers match them
        return f"{href}: no element with id {url.fragment!r} in {target.name}"
    return None


def test_report_pages_fit_resolve_and_stay_offline(browser):
    assert PAGES and (REPORTS / "index.html") in PAGES
    ids = {}

    def ids_of(target: Path) -> set[str]:
        if target not in ids:
            context, page, _ = _open(browser, target, WIDTHS[0])
            ids[target] = set(page.eval_on_selector_all("[id], a[name]", "els => els.map(e => e.id || e.name)"))
            context.close()
        return ids[target]

    problems = []
    for page_path in PAGES:
        for width in WIDTHS:
            context, page, requested = _open(browser, page_path, width)
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            if overflow > 0:
                problems.append(f"{page_path.name} at {width} px: {overflow} px of horizontal overflow")
            problems += [f"{page_path.name} requested {url}" for url in requested
                         if urlparse(url).scheme not in ("file", "data", "about")]
            if width == WIDTHS[0]:
                title = page.title()
                if not title or title == "Notebook":
                    problems.append(f"{page_path.name} has no real title ({title!r})")
                hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
                if page_path.name != "index.html" and "index.html" not in hrefs:
                    problems.append(f"{page_path.name} has no link back to index.html")
                problems += [f"{page_path.name}: {p}" for p in (_link_problem(page_path, h, ids_of) for h in hrefs) if p]
                if page_path.name == "index.html":
                    top = page.evaluate("document.querySelector('section table, section img')"
                                        ".getBoundingClientRect().top")
                    if top > 800:
                        problems.append(f"index.html: the first table or figure starts {top:.0f} px down, off the "
                                        "first screen")
            context.close()
    assert not problems, "\n".join(problems)
