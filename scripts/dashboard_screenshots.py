"""Screenshots of the dashboard's views for the documentation: the page served by the browser tests'
stand-in web role (tests/web) with five minutes of Madrid-shaped snapshots, photographed by the Debian
chromium through Playwright (no browser download).

    python scripts/dashboard_screenshots.py                  # /tmp/sdqkd-dashboard/dashboard-topology.png
    python scripts/dashboard_screenshots.py --all --out /tmp/shots   # every view, desktop and phone

(The pictures in docs/images/madrid-*.png are of a real Madrid network instead, taken by
tests/runtime/test_runtime_dashboard_browser.py.)

Needs the dev extra (playwright) and ``apt-get install chromium``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "web"), str(ROOT / "tests")]  # the stand-in and its snapshots

from browser_support import CHROMIUM_ARGS, DESKTOP, PHONE, chromium_path  # noqa: E402
from dashboard_server import SnapshotFeed, serve_dashboard  # noqa: E402
from dashboard_snapshots import madrid_snapshot  # noqa: E402
from playwright.sync_api import Browser, expect, sync_playwright  # noqa: E402

VIEWS = ("topology", "links", "spectra", "switches", "services", "timeline")
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
HISTORY = [madrid_snapshot(5.0 * step) for step in range(61)]  # 0 s … 300 s
HISTORY_END = "13:05:00"  # the last one's time as the page shows it (in UTC, the page's time zone here)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path("/tmp/sdqkd-dashboard"), help="folder for the PNG files"
    )
    parser.add_argument("--all", action="store_true", help="every view at desktop and phone size")
    args = parser.parse_args()
    chromium = chromium_path()
    if chromium is None:
        sys.exit("chromium is not installed (apt-get install chromium)")
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for size, viewport in VIEWPORTS.items():
            if size == "desktop" or args.all:
                photograph(
                    browser,
                    viewport,
                    VIEWS if args.all else ("topology",),
                    args.out,
                    size if args.all else "",
                )
        browser.close()


def photograph(
    browser: Browser, viewport: dict[str, int], views: tuple[str, ...], out: Path, suffix: str
) -> None:
    """Open the page on a fresh stand-in, stream it five minutes of snapshots, photograph ``views``."""
    feed = SnapshotFeed()
    feed.publish(HISTORY[0])
    with serve_dashboard(feed) as url:
        page = browser.new_page(viewport=viewport, timezone_id="UTC")  # type: ignore[arg-type]
        page.goto(url)
        expect(page.locator("#connection")).to_have_attribute("data-connection", "live")
        feed.publish(*HISTORY[1:])  # the stream sends every one: the charts fill at once
        expect(page.locator("#snapshot-time")).to_have_text(f"as of {HISTORY_END}")
        for view in views:
            path = out / (f"dashboard-{view}-{suffix}.png" if suffix else f"dashboard-{view}.png")
            page.locator(f"#view-{view}").screenshot(path=path)
            print(path)
        page.close()


if __name__ == "__main__":
    main()
