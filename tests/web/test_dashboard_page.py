"""The dashboard's page in chromium, against the stand-in web role (conftest): it draws Madrid, follows the
event stream without reloading (a cut fibre turns its link red within the contract's 3 s), colours links
by key rate over target, keeps the charts' window, fits a desktop and a phone, and never takes text from a
snapshot for HTML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_support import DESKTOP, PHONE
from dashboard_server import Dashboard
from dashboard_snapshots import FIBRES, LINK_IDS, NODE_IDS, TARGET_BPS, madrid_snapshot

pytestmark = pytest.mark.integration

VIEWS = ("topology", "links", "spectra", "switches", "services", "timeline")
CONTRACT_S = 3.0  # issue 14: a fibre cut shows within 3 s, without reload


def _expect():  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    return expect


def test_the_page_shows_the_madrid_nodes_fibres_and_links(dashboard: Dashboard, open_page) -> None:
    page = open_page(dashboard.url)
    expect = _expect()
    topology = page.locator("#view-topology")
    for node in NODE_IDS:
        expect(topology.locator(f'[data-node="{node}"]')).to_be_visible()
    expect(topology.locator('[data-node="quintin"]')).to_contain_text("Quintín")
    for fibre, *_ in FIBRES:
        expect(topology.locator(f'[data-fibre="{fibre}"]')).to_have_class(re.compile(r"^fibre$"))
    for link in LINK_IDS:
        element = page.locator(f'[data-link="{link}"]')
        expect(element).to_have_count(1)  # data-link marks the topology's link only
        expect(element).to_have_attribute("data-status", "up")
        expect(element).to_have_class(re.compile(r"\blink-ok\b"))
    expect(page.locator('[data-link="v-concepcion-norte"]')).to_have_class(re.compile(r"\blink-virt\b"))
    expect(page.locator("#network-name")).to_have_text("madrid")
    expect(page.locator("#connection")).to_have_attribute("data-connection", "live")


def test_a_cut_fibre_turns_its_link_red_within_3_s_without_reload(dashboard: Dashboard, open_page) -> None:
    page = open_page(dashboard.url)
    expect = _expect()
    link = page.locator('[data-link="norte-quintin"]')
    expect(link).to_have_attribute("data-status", "up")
    page.evaluate("window.loadedOnce = true")  # a reload would forget it

    dashboard.feed.publish(madrid_snapshot(1.0, cut=["norte-quintin"]))

    expect(link).to_have_attribute("data-status", "down", timeout=CONTRACT_S * 1000)
    expect(link).to_have_class(re.compile(r"\blink-down\b"))
    expect(page.locator('#view-topology [data-fibre="norte-quintin"]')).to_have_class(
        re.compile(r"\bfibre-cut\b")
    )
    expect(page.locator('[data-link="v-concepcion-norte"]')).to_have_attribute("data-status", "down")
    expect(page.locator('[data-link="concepcion-norte"]')).to_have_attribute("data-status", "up")
    expect(page.locator("#view-timeline .entry").first).to_contain_text("link_down · link:norte-quintin")
    assert page.evaluate("window.loadedOnce") is True


@pytest.mark.parametrize(
    ("share_of_target", "colour"),
    [(1.2, "link-ok"), (1.0, "link-ok"), (0.7, "link-low"), (0.5, "link-low"), (0.3, "link-down")],
)
def test_a_link_is_coloured_by_its_key_rate_over_its_target(
    dashboard: Dashboard, open_page, share_of_target: float, colour: str
) -> None:
    page = open_page(dashboard.url)
    dashboard.feed.publish(madrid_snapshot(1.0, rates={"concepcion-quintin": share_of_target * TARGET_BPS}))
    link = page.locator('[data-link="concepcion-quintin"]')
    _expect()(link).to_have_class(re.compile(rf"\b{colour}\b"))
    _expect()(link).to_have_attribute("data-status", "up")  # short of target is not down


def test_the_link_charts_keep_the_last_five_minutes_of_snapshots(dashboard: Dashboard, open_page) -> None:
    page = open_page(dashboard.url)
    expect = _expect()
    skr = page.locator('[data-chart-link="norte-quintin"] polyline[data-series="SKR"]')
    expect(skr).to_have_count(1)
    expect(page.locator("#connection")).to_have_attribute("data-connection", "live")  # the stream is open
    dashboard.feed.publish(*(madrid_snapshot(10.0 * step) for step in range(1, 30)))  # 0 s … 290 s
    expect(skr).to_have_attribute("points", re.compile(r"^(\S+ ){29}\S+$"))  # 30 points

    dashboard.feed.publish(madrid_snapshot(600.0), madrid_snapshot(610.0))  # the first 30 are over 5 min old
    expect(skr).to_have_attribute("points", re.compile(r"^\S+ \S+$"))
    pools = page.locator('[data-chart-link="norte-quintin"] polyline[data-series="norte"]')
    expect(pools).to_have_count(1)


def test_each_fibre_shows_its_classical_channels_and_quantum_channel(dashboard: Dashboard, open_page) -> None:
    page = open_page(dashboard.url)
    expect = _expect()
    for fibre, *_ in FIBRES:
        card = page.locator(f'#view-spectra [data-fibre="{fibre}"]')
        expect(card.locator("[data-channel]")).to_have_count(17)
        expect(card.locator(f'[data-quantum="{fibre}"]')).to_have_count(1)
        expect(card.locator(".quantum-table")).to_contain_text("ch 59 · 195.90 THz")


def test_switches_apps_services_and_the_timeline_show_their_state(dashboard: Dashboard, open_page) -> None:
    page = open_page(dashboard.url)
    expect = _expect()
    expect(page.locator('[data-switch="concepcion-switch"] .port-current')).to_have_attribute(
        "data-port", "to-norte"
    )
    dashboard.feed.publish(madrid_snapshot(31.0))  # the switch has moved
    expect(page.locator('[data-switch="concepcion-switch"] .port-current')).to_have_attribute(
        "data-port", "to-quintin"
    )
    expect(page.locator("#view-switches .shares")).to_contain_text("52 %")
    expect(page.locator("#view-services [data-app]")).to_have_count(2)
    failed = page.locator("#view-services [data-service] .status-failed")
    expect(failed).to_have_text("failed")
    expect(page.locator("#view-services")).to_contain_text("the gateway at quintin exited (1)")
    entries = page.locator("#view-timeline .entry")
    expect(entries).to_have_count(3)
    expect(entries.nth(0)).to_contain_text("room returned")  # newest first
    expect(entries.nth(1)).to_contain_text("optical_target_missed")
    expect(entries.nth(1)).to_contain_text("cleared")
    expect(entries.nth(2)).to_contain_text("power c10g-35 -3.0 → -9.5 dBm")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_every_view_fits_the_screen_without_horizontal_scrolling(
    dashboard: Dashboard, open_page, viewport: dict[str, int], tmp_path: Path
) -> None:
    page = open_page(dashboard.url, viewport=viewport)
    dashboard.feed.publish(*(madrid_snapshot(10.0 * step, cut=["norte-quintin"]) for step in range(1, 20)))
    expect = _expect()
    expect(page.locator('[data-link="norte-quintin"]')).to_have_attribute("data-status", "down")
    for view in VIEWS:
        section = page.locator(f"#view-{view}")
        expect(section).to_be_visible()
        expect(section.locator(".view-body > *")).not_to_have_count(0)
        expect(section.locator(".view-error")).to_have_count(0)
        assert section.evaluate("e => e.scrollWidth <= e.clientWidth"), f"{view} is wider than its box"
        section.screenshot(path=tmp_path / f"{view}-{viewport['width']}x{viewport['height']}.png")
        assert (tmp_path / f"{view}-{viewport['width']}x{viewport['height']}.png").stat().st_size > 0
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    # the grid collapses to one column on a phone: the two narrow views then start at the same x
    columns = {page.locator(f"#view-{view}").bounding_box()["x"] for view in ("switches", "services")}
    assert len(columns) == (1 if viewport is PHONE else 2)


def test_text_from_a_snapshot_is_shown_as_text_never_as_html(dashboard: Dashboard, open_page) -> None:
    page = open_page(dashboard.url)
    name = '<img src=x onerror="window.injected=1">Norte'
    dashboard.feed.publish(madrid_snapshot(1.0, names={"norte": name}))
    _expect()(page.locator('[data-node="norte"] .node-label')).to_have_text(name)
    assert page.locator("img").count() == 0
    assert page.evaluate("window.injected === undefined")


def test_a_lost_session_makes_the_page_say_to_open_the_printed_url(dashboard: Dashboard, open_page) -> None:
    page = open_page(dashboard.url)
    expect = _expect()
    expect(page.locator("#connection")).to_have_attribute("data-connection", "live")
    dashboard.feed.sign_out()  # the stream ends; opened again, it and the snapshot answer 401
    expect(page.locator("#connection")).to_have_attribute("data-connection", "unauthorized", timeout=20_000)
    expect(page.locator("#problems")).to_contain_text("open the dashboard URL that `sdqkd up` printed")
    expect(page.locator('[data-link="norte-quintin"]')).to_have_count(1)  # the last picture stays
