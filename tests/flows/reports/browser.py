"""Pages opened in a real browser (Debian's Chromium, driven by Playwright): what loads, what it asks the network
for, what the console says, and a screenshot kept as a test artifact for a person to look at."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import _service_missing

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(os.environ.get("DRIFTWARDEN_TEST_ARTIFACTS", REPO / "test-artifacts"))


def chromium() -> str:
    """Chromium's path: the Debian package (``apt-get install -y chromium``), which .ci/run installs."""
    found = os.environ.get("DRIFTWARDEN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        _service_missing("Chromium (apt-get install -y chromium)")
    return str(found)


@dataclass
class Opened:
    page: Any
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def external(self, url: str) -> list[str]:
        """Requests for anything but the page itself: the page must load with no network and no other file."""
        return [r for r in self.requests if r != url and not r.startswith("data:")]


@contextmanager
def opened(path: Path, screenshot: str, width: int = 1200) -> Iterator[Opened]:
    """Open ``path`` from ``file://`` with every request, console error and page error recorded; after the
    ``with`` body, a full-page screenshot goes to ``test-artifacts/<screenshot>.png``."""
    from playwright.sync_api import sync_playwright

    url = path.resolve().as_uri()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            seen = Opened(page)
            page.on("console", lambda m: seen.errors.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: seen.errors.append(str(e)))
            page.on("request", lambda r: seen.requests.append(r.url))
            page.goto(url, wait_until="load")
            page.wait_for_timeout(300)
            yield seen
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{screenshot}.png"), full_page=True)
        finally:
            browser.close()


def chart_points(page: Any) -> dict[str, list[int]]:
    """Each drawn chart's id and the number of points of each of its traces."""
    return dict(
        page.evaluate(
            "Array.from(document.querySelectorAll('.js-plotly-plot'))"
            ".map(g => [g.id, g.data.map(t => (t.x || []).length)])"
        )
    )
