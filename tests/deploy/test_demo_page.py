"""The demo page in a real headless Chromium against the real service.

Needs Debian's chromium (apt-get install -y chromium) and Playwright for Python
(pip install playwright; its own browser download is not used). The screenshots go to
$DEMO_SCREENSHOT_DIR, or to the test's temporary folder; their paths are printed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.deploy_helpers import ServiceFactory, write_photo

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 60_000


def _chromium() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium)")


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    """A page of a fresh headless Chromium profile."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed (pip install playwright)"
    )
    executable = _chromium()
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 900},
            timeout=TIMEOUT_MS,
        )
        try:
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            yield page
        finally:
            context.close()


def _screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    folder = Path(os.environ.get("DEMO_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def _wait_for_result(page: Any) -> None:
    page.wait_for_function(
        "() => document.body.classList.contains('has-result') && !document.body.classList"
        ".contains('busy') && document.getElementById('corrected').complete"
        " && document.getElementById('corrected').naturalWidth > 0"
    )


def _wait_for_error(page: Any) -> None:
    page.wait_for_function("() => document.getElementById('status').classList.contains('error')")


def test_demo_page_corrects_an_uploaded_photo(service_url: str, page: Any, tmp_path: Path) -> None:
    response = httpx.get(f"{service_url}/")
    assert response.status_code == 200, "GET / must serve the demo page (app.demo.router)"
    assert response.headers["content-type"].startswith("text/html")
    photo = write_photo(tmp_path / "beach.jpg", 480, 320, seed=7)

    page.goto(f"{service_url}/")
    page.set_input_files("#file", str(photo))
    _wait_for_result(page)

    assert page.eval_on_selector("#corrected", "img => img.naturalWidth") == 480
    assert page.eval_on_selector("#corrected", "img => img.naturalHeight") == 320
    assert page.eval_on_selector("#original", "img => img.naturalWidth") == 480
    download = page.locator("#download")
    assert download.is_visible()
    assert download.get_attribute("href").startswith("blob:")
    assert download.get_attribute("download") == "beach-corrected.jpg"
    assert "Done" in page.inner_text("#status")
    assert "EV estimated" in page.inner_text("#timing")
    _screenshot(page, tmp_path, "demo-corrected.png")


def test_demo_page_simulates_overexposure_then_corrects(
    service_url: str, page: Any, tmp_path: Path
) -> None:
    photo = write_photo(tmp_path / "street.png", 400, 300, seed=8)
    page.goto(f"{service_url}/")
    page.set_input_files("#file", str(photo))
    _wait_for_result(page)
    first = page.get_attribute("#corrected", "src")

    page.locator("#tau").fill("0.35")
    assert page.inner_text("#tau-value") == "0.35"
    page.click("#simulate")
    page.wait_for_function("first => document.getElementById('corrected').src !== first", arg=first)
    _wait_for_result(page)

    assert "Overexposed" in page.inner_text("#original-caption")
    assert "EV estimated" in page.inner_text("#timing")
    assert page.locator("#reset").is_visible()

    # The EV control: off "auto", the slider's stops are sent and reported back.
    assert page.locator("#ev").is_disabled()
    before = page.get_attribute("#corrected", "src")
    page.uncheck("#ev-auto")
    page.wait_for_function("b => document.getElementById('corrected').src !== b", arg=before)
    _wait_for_result(page)
    assert page.locator("#ev").is_enabled()
    before = page.get_attribute("#corrected", "src")
    page.locator("#ev").fill("1.5")
    page.locator("#ev").dispatch_event("change")
    page.wait_for_function("b => document.getElementById('corrected').src !== b", arg=before)
    _wait_for_result(page)
    assert page.inner_text("#ev-value") == "1.50 EV"
    assert "-1.50 EV as set" in page.inner_text("#timing")
    page.locator("#compare-slider").fill("30")
    clip = page.eval_on_selector("#compare-before", "img => img.style.clipPath")
    assert "70%" in clip
    _screenshot(page, tmp_path, "demo-simulated.png")


def test_demo_page_shows_the_service_error(service_url: str, page: Any, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.png"
    bogus.write_bytes(b"this is not an image")
    page.goto(f"{service_url}/")
    page.set_input_files("#file", str(bogus))
    _wait_for_error(page)
    assert "not a decodable image" in page.inner_text("#status")


def test_demo_page_asks_for_the_api_key_when_the_service_wants_one(
    service_factory: ServiceFactory, tiny_checkpoint: Path, page: Any, tmp_path: Path
) -> None:
    photo = write_photo(tmp_path / "p.png", 64, 48, seed=9)
    keys = {"EXPOSURE_API_KEYS": "demo-secret-key"}
    with service_factory(tiny_checkpoint, extra_env=keys) as url:
        page.goto(f"{url}/")
        page.set_input_files("#file", str(photo))
        _wait_for_error(page)
        assert "API key" in page.inner_text("#status")
        assert page.locator("#api-key").is_visible()

        page.fill("#api-key", "demo-secret-key")
        page.locator("#api-key").dispatch_event("change")
        _wait_for_result(page)
        assert page.eval_on_selector("#corrected", "img => img.naturalWidth") == 64
