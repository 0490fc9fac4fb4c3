"""The documentation site: built strictly from the sources, then read in a real browser as a reader would.

Needs the ``docs`` extra (Sphinx, myst-nb, selenium) and Debian's ``chromium`` and ``chromium-driver``; skips with
a reason saying how to get them where they are absent. Screenshots of the pages go to ``runs/docs/``.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import os
import subprocess
import sys
import threading
import urllib.parse
import urllib.request

import pytest

from jaxnet import data

import chromium
import requires

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SHOTS = os.path.join(ROOT, "runs", "docs")
PAGES = {  # what a reader opens first: the front page, fit's API entry, the lecture map, the executed notebook
    "home": "index.html",
    "fit": "api/jaxnet.train.html#jaxnet.train.fit",
    "lecture": "_generated/lecture.html",
    "notebook": "_generated/notebook.html",
}
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built with the same strict options as ``make docs``, served on 127.0.0.1.

    ``$JAXNET_DOCS_HTML`` names a site ``make docs`` has just built (CI sets it right after building, so the suite
    does not build it twice); otherwise the test builds its own.
    """
    pytest.importorskip("sphinx", reason=requires.extra("docs"))
    pytest.importorskip("myst_nb", reason=requires.extra("docs"))
    if os.environ.get("JAXNET_DOCS_HTML"):
        out = os.environ["JAXNET_DOCS_HTML"]
        assert os.path.isfile(os.path.join(out, "index.html")), f"$JAXNET_DOCS_HTML={out} holds no built site"
    else:
        out = str(tmp_path_factory.mktemp("html"))
        # In its own process, as `make docs` runs it: Sphinx's deprecation notices are not this suite's warnings.
        build = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html",
                                "-d", os.path.join(out, ".doctrees"), os.path.join(ROOT, "docs"), out],
                               capture_output=True, text=True, timeout=600)
        assert build.returncode == 0, f"the strict documentation build failed:\n{build.stderr[-3000:]}"
    handler = functools.partial(_QuietHandler, directory=out)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", out
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test reports what matters; the access log is noise
        pass


@pytest.fixture(scope="module")
def browser():
    driver = chromium.start()
    yield driver
    driver.quit()


class _Links(html.parser.HTMLParser):
    """The ids, link targets and image sources of one HTML page."""

    def __init__(self):
        super().__init__()
        self.ids, self.links, self.images = set(), [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])


@functools.cache
def _read(url: str) -> _Links:
    with urllib.request.urlopen(url, timeout=10) as response:  # raises HTTPError for a 404
        parsed = _Links()
        if response.headers.get_content_type() == "text/html":
            parsed.feed(response.read().decode("utf-8"))
        return parsed


def _internal(base: str, page_url: str, href: str) -> str | None:
    url = urllib.parse.urljoin(page_url, href)
    return url if url.startswith(base) else None


@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders_with_its_links_and_images(site, browser, name):
    base, _ = site
    url = base + PAGES[name]
    browser.get(url)
    assert "jaxnet" in browser.title
    os.makedirs(SHOTS, exist_ok=True)
    browser.save_screenshot(os.path.join(SHOTS, f"{name}.png"))
    # Every image loaded: the browser decoded it to a non-zero size.
    broken = browser.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
    assert not broken, f"images that did not load on {name}: {broken}"
    if name == "notebook":  # the notebook was executed at build time: its figures are there
        figures = browser.find_elements("css selector", ".cell_output img")
        # The perceptron and the width sweep; with the MNIST files also the misclassified digits, which an
        # experiment that switched matplotlib's backend once made disappear.
        assert len(figures) == (3 if data.find_idx_dir("mnist") is not None else 2)
        # The theme scrolls smoothly; jump instead, so the picture is taken where the figure is.
        browser.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", figures[-1])
        figures[-1].screenshot(os.path.join(SHOTS, "notebook-last-figure.png"))
    if name == "fit":
        entry = browser.find_element("id", "jaxnet.train.fit")
        assert entry.is_displayed() and "opt_state" in entry.find_element("xpath", "..").text
    # Every internal link resolves, to the page and, for a link with a fragment, to an element with that id.
    page = _read(url.split("#")[0])
    for href in page.links:
        target = _internal(base, url, href)
        if target is None:
            continue
        path, _, fragment = target.partition("#")
        linked = _read(path)
        assert not fragment or urllib.parse.unquote(fragment) in linked.ids, f"{name}: {href} has no target"
    for src in page.images:
        target = _internal(base, url, src)
        if target is not None:
            _read(target)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"console errors on {name}: {errors}"


def test_search_finds_manual_grad(site, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    base, _ = site
    browser.get(base + "search.html?q=manual_grad")

    def results(driver):
        links = driver.find_elements("css selector", "#search-results a, ul.search a")
        return [a.get_attribute("href") for a in links] or False

    found = WebDriverWait(browser, 30).until(results)
    browser.save_screenshot(os.path.join(SHOTS, "search.png"))
    assert any("jaxnet.backprop" in href for href in found), found
