"""The report of real runs, opened in a real headless browser (Debian's chromium and its driver,
through selenium): no console errors, every section drawn, the row browser's search works,
preference pairs side by side; a screenshot is kept as a test artifact.

Skips when chromium is missing, unless CURATE_REQUIRE_BROWSER=1 (CI) makes that a failure; install
it with scripts/setup-browser.sh. CURATE_UPDATE_SCREENSHOT=1 also writes docs/images/report.png.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SECTIONS = ("provenance", "funnel", "timing", "distributions", "rows")

pytestmark = pytest.mark.slow


def _browser_or_skip() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
    missing = [name for name, found in (("chromium", chromium), ("chromedriver", driver)) if not found]
    if importlib.util.find_spec("selenium") is None:
        missing.append("the selenium Python package")
    if missing:
        reason = f"{' and '.join(missing)} not installed (bash scripts/setup-browser.sh; pip install selenium)"
        if os.environ.get("CURATE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CURATE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return chromium, driver


@pytest.fixture(scope="module")
def browser():
    chromium, driver = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield drv
    finally:
        drv.quit()


@pytest.fixture
def artifacts(tmp_path) -> Path:
    folder = Path(os.environ.get("CURATE_TEST_ARTIFACTS") or tmp_path) / "report-browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _open(browser, path: Path) -> None:
    browser.get(path.resolve().as_uri())
    deadline = time.monotonic() + 90
    while not browser.execute_script("return document.body && document.body.getAttribute('data-ready')"):
        if time.monotonic() > deadline:
            pytest.fail(f"{path} did not finish drawing; console: {browser.get_log('browser')}")
        time.sleep(0.2)


def _check_page(browser, sections=SECTIONS) -> None:
    from selenium.webdriver.common.by import By

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"console errors: {errors}"
    for sid in sections:
        content = browser.find_element(By.CSS_SELECTOR, f"section#{sid} .content")
        assert content.find_elements(By.XPATH, "./*"), f"section {sid} is empty"
    assert browser.find_elements(By.CSS_SELECTOR, "#funnel .fig .main-svg"), "the funnel plot was not drawn"


def _cards(browser) -> list:
    from selenium.webdriver.common.by import By

    return browser.find_elements(By.CSS_SELECTOR, "#row-list .row")


def _search(browser, text: str) -> None:
    from selenium.webdriver.common.by import By

    box = browser.find_element(By.ID, "row-search")
    box.clear()
    if text:
        box.send_keys(text)
    else:  # clear() fires no input event
        browser.execute_script("arguments[0].dispatchEvent(new Event('input'))", box)


def _pick(browser, element_id: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.ID, element_id)).select_by_value(value)


def _screenshot(browser, artifacts: Path, name: str, anchor: str | None = None) -> Path:
    if anchor:
        browser.execute_script(f"document.getElementById('{anchor}').scrollIntoView()")
        time.sleep(0.3)
    path = artifacts / name
    browser.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
    return path


def test_quickstart_report_in_a_browser(browser, artifacts, tmp_path):
    run_dir = tmp_path / "quickstart"
    proc = subprocess.run([sys.executable, "-m", "curate", "run", str(REPO / "recipes" / "quickstart.yaml"),
                           "--run-dir", str(run_dir), "--quiet"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    _open(browser, run_dir / "report.html")
    _check_page(browser)
    shot = _screenshot(browser, artifacts, "quickstart-funnel.png", "funnel")
    print(f"screenshot: {shot}")
    if os.environ.get("CURATE_UPDATE_SCREENSHOT") == "1":  # the README's picture
        shutil.copy(shot, REPO / "docs" / "images" / "report.png")

    # the row browser: the kept rows of the language filter, then a search that narrows them
    _pick(browser, "row-stage", "filter.language")
    _pick(browser, "row-kind", "kept")
    everything = len(_cards(browser))
    assert everything > 5
    _search(browser, "prime")
    found = _cards(browser)
    assert 0 < len(found) < everything and all("prime" in c.text.lower() for c in found)
    _search(browser, "no row says this zzqx")
    assert not _cards(browser)
    _search(browser, "")
    assert len(_cards(browser)) == everything
    # removed rows carry their reason
    _pick(browser, "row-stage", "dedup")
    _pick(browser, "row-kind", "removed")
    assert _cards(browser) and all("duplicate" in c.text for c in _cards(browser))
    _screenshot(browser, artifacts, "quickstart-rows.png", "rows")


def test_preference_report_in_a_browser(browser, artifacts, tmp_path):
    """A reward-scored preference run (the weak-to-strong recipe, one round, tiny models)."""
    pytest.importorskip("transformers")
    import curate
    from curate.testing.tiny_model import HELPSTEER2_LABELS, build_tiny_llama, build_tiny_reward_model

    models = tmp_path / "models"
    build_tiny_llama(models / "round1", seed=1)
    build_tiny_reward_model(models / "reward", num_labels=5, id2label=dict(enumerate(HELPSTEER2_LABELS)))
    run_dir = tmp_path / "round1"
    curate.run(REPO / "recipes" / "weak-to-strong" / "recipe.yaml", run_dir=run_dir,
               overrides={"engines.generator.model": str(models / "round1"),
                          "engines.reward.model": str(models / "reward")})
    _open(browser, run_dir / "report.html")
    _check_page(browser)
    from selenium.webdriver.common.by import By

    titles = " ".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, "#distributions .gtitle"))
    assert "reward_helpfulness" in titles and "score_gap" in titles
    _pick(browser, "row-stage", "pairs")
    _pick(browser, "row-kind", "kept")
    pairs = browser.find_elements(By.CSS_SELECTOR, "#row-list .pair")
    assert pairs and all(p.find_elements(By.CSS_SELECTOR, ".chosen .turn") and
                         p.find_elements(By.CSS_SELECTOR, ".rejected .turn") for p in pairs)
    assert "score gap" in browser.find_element(By.CSS_SELECTOR, "#row-list .gap").text
    print(f"screenshot: {_screenshot(browser, artifacts, 'preference-rows.png', 'rows')}")
