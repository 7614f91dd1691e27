"""Headless Chromium for the page tests: Debian's `chromium` and `chromium-driver`, driven by selenium.

`.ci/run` installs both packages; where they (or selenium) are missing, `chromium()` skips the test and
says what to install. Nothing here installs anything.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "out" / "screenshots"


def missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not Path(CHROMIUM).is_file() or not Path(CHROMEDRIVER).is_file():
        return (f"headless Chromium is not installed ({CHROMIUM} and {CHROMEDRIVER}); "
                "`apt-get install -y chromium chromium-driver` (.ci/run does this)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed; `pip install '.[test]'`"
    return None


@contextlib.contextmanager
def chromium(width: int = 1200, height: int = 900):
    """A headless Chromium with a fresh profile; skips the calling test where it cannot run."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="autograder-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver) -> list[str]:
    """The page's console messages of level SEVERE (errors, failed loads) since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def click_and_load(driver, element, timeout: float = 30) -> None:
    """Click a link or submit button and wait until the page it leads to has loaded.

    Without the wait, the next `find_element` can still find the old page's element, which goes stale
    under it as the new page replaces it (a race that a slow machine loses).
    """
    from selenium.webdriver.support.wait import WebDriverWait

    old = driver.find_element("tag name", "html")
    element.click()
    wait = WebDriverWait(driver, timeout)
    wait.until(lambda d: replaced(old))
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")


def replaced(element) -> bool:
    """The element is gone from the page. Chrome says so as a stale reference, or, when the page is replaced
    while it answers, as "Node with given id does not belong to the document" (seen in CI)."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if "does not belong to the document" in str(error):
            return True
        raise
    return False


def ink(png: bytes) -> float:
    """The fraction of pixels of a screenshot that are not (near) white."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    histogram = image.histogram()
    dark = sum(histogram[:240])
    return dark / max(1, image.width * image.height)


def save(png: bytes, name: str) -> Path:
    """Keep a screenshot under out/screenshots/ for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    path.write_bytes(png)
    return path


def full_page(driver) -> bytes:
    """A screenshot of the whole page (the window grown to the document's height)."""
    height = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    driver.set_window_size(driver.get_window_size()["width"], min(int(height) + 100, 8000))
    return driver.get_screenshot_as_png()
