"""The network map in Chromium at 1366 px, Japanese and English: the simulated plant (its devices
drawn in their zone, a click opens a device, the zone editor moves a group into a named zone at a
Purdue level) and a constructed 200-device site across seven zones, timed."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from browsertest import collect_errors, follow, log_in
from coretest import T0, LiveServer, flow, make_batch, post_batch, provision
from storetemplate import migrated
from browsershot import shoot

from core.analytics.assets import amend
from core.api.app import create_app
from core.config import Settings
from dashboard.i18n import MESSAGES
from sensor import simulate, wire
from sensor.meter import pipeline
from sensor.meter.observe import Observer

JA, EN = MESSAGES["ja"], MESSAGES["en"]
WIDE = {"width": 1366, "height": 900}
PLANT_PACKETS = 60_000
# the constructed site: (zone's subnet, VLAN, how many, name prefix, vendor OUI, vendor)
BIG_SITE = (
    ("10.20.1", 0, 10, "srv", "00:24:e8", "Dell"),
    ("10.20.2", 0, 20, "hmi", "00:0b:ab", "Advantech"),
    *((f"10.20.{3 + cell}", 0, 30, f"plc-c{cell + 1}-", "00:1b:1b", "Siemens") for cell in range(4)),
    ("10.20.50", 50, 40, "cam", "00:40:8c", "Axis"),
)  # 10 + 20 + 120 + 40 = 190 devices, plus 10 below
EXTRA = (("10.20.50", 50, 2, "nvr", "54:c4:15", "Hikvision"), ("10.20.7", 0, 8, "iot", "b8:27:eb", "Raspberry Pi"))
# what the page's JavaScript reads off the map
MAP = "#network-map .js-plotly-plot"
NODES = f"""() => Array.from(document.querySelector('{MAP}').data)
    .filter(trace => trace.mode === 'markers+text').flatMap(trace => trace.customdata)"""


def _hosts() -> list[dict]:
    hosts = []
    for subnet, vlan, count, prefix, oui, vendor in BIG_SITE + EXTRA:
        for n in range(1, count + 1):
            number = n + (100 if prefix == "nvr" else 0)
            mac = f"{oui}:{int(subnet.split('.')[2]):02x}:00:{number:02x}"
            hosts.append({"ip": f"{subnet}.{number}", "vlan": vlan, "mac": mac, "vendor": vendor,
                          "name": f"{prefix}{n:02d}" if prefix.endswith("-") else f"{prefix}-{n:02d}"})
    return hosts


def _big_site_batches(hosts: list[dict]) -> list[wire.Batch]:
    """An hour of a 200-device plant: HMIs poll PLCs of every cell (Modbus), servers read HMIs (HTTP)
    and reach the Internet (TLS), engineering servers program PLCs (S7), recorders pull the cameras'
    streams (RTSP, VLAN 50), IoT sensors publish to a server (MQTT)."""
    by = {}
    for h in hosts:
        by.setdefault(h["name"].rstrip("0123456789").rstrip("-"), []).append(h)
    plcs = [h for h in hosts if h["name"].startswith("plc")]

    def link(a: dict, b: dict, service: str, port: int, nbytes: int, vlan: int = 0) -> dict:
        return flow(a["ip"], b["ip"], service, ts=T0, nbytes=nbytes, pkts=max(1, nbytes // 100), resp_p=port,
                    vlan=vlan, orig_l2_addr=a["mac"], resp_l2_addr=b["mac"], uid=f"C{a['ip']}-{b['ip']}")

    flows = [link(hmi, plcs[(i * 6 + k) % len(plcs)], "modbus", 502, 20_000 + 3_000 * k)
             for i, hmi in enumerate(by["hmi"]) for k in range(6)]
    flows += [link(srv, hmi, "http", 80, 4_000) for srv in by["srv"][:5] for hmi in by["hmi"][::4]]
    flows += [link(srv, plc, "s7comm", 102, 9_000) for srv in by["srv"][5:8] for plc in plcs[::8]]
    flows += [link(by["nvr"][i % 2], cam, "rtsp", 554, 2_000_000, vlan=50) for i, cam in enumerate(by["cam"])]
    flows += [link(iot, by["srv"][9], "mqtt", 1883, 1_500) for iot in by["iot"]]
    internet = {"ip": "93.184.216.34", "mac": "00:90:e8:00:00:01"}
    flows += [link(srv, internet, "tls", 443, 60_000) for srv in by["srv"][:2]]
    facts = [dict(ts=T0, mac=h["mac"], ip=h["ip"], attribute=attribute, value=value, source="test", confidence=90)
             for h in hosts for attribute, value in (("hostname", h["name"]), ("vendor", h["vendor"]))]
    return [make_batch(flows[i:i + 150], events=[], observations=facts if i == 0 else [],
                       start=T0 + timedelta(minutes=i // 150)) for i in range(0, len(flows), 150)]


def _upload(url: str, token: str, batches) -> None:
    with httpx.Client(base_url=url) as client:
        for batch in batches:
            r = post_batch(client, token, wire.encode(batch))
            assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """acme: the simulated plant; bigco: the constructed 200-device site, cells and levels named."""
    workdir = tmp_path_factory.mktemp("netmap")
    with LiveServer(create_app(Settings(data_dir=migrated(workdir)))) as live:
        acme, bigco = provision(live.app, "acme"), provision(live.app, "bigco")
        pcap = workdir / "plant.pcap"
        plant = simulate.write_pcap(pcap, packets=PLANT_PACKETS, seed=1)["devices"]
        _upload(live.url, acme.sensor_token, pipeline.iter_batches([pcap], sensor="SN-acme", observer=Observer()))
        hosts = _hosts()
        _upload(live.url, bigco.sensor_token, _big_site_batches(hosts))
        ch = live.app.state.clickhouse
        for level, prefix, zone in ((3, "srv", "Site operations"), (2, "hmi", "Supervisory")):
            amend(ch, bigco.id, [h["mac"] for h in hosts if h["name"].startswith(prefix)], "test",
                  zone=zone, purdue_level=level)
        for cell in range(1, 5):
            amend(ch, bigco.id, [h["mac"] for h in hosts if h["name"].startswith(f"plc-c{cell}-")], "test",
                  zone=f"Cell {cell}", purdue_level=1)
        yield live, acme, bigco, plant, hosts


@pytest.fixture
def wide(browser):
    context = browser.new_context(viewport=WIDE, locale="ja-JP")
    yield context.new_page()
    context.close()


def _open_map(page, url: str, lang: str) -> float:
    """Seconds until the map is drawn."""
    started = time.monotonic()
    page.goto(f"{url}/map?lang={lang}")
    page.wait_for_selector(MAP)
    return time.monotonic() - started


def _fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _click_node(page, path: str) -> None:
    """A real mouse click on the dot that links to ``path``."""
    x, y = page.locator(MAP).evaluate(f"""el => {{
        const trace = el.data.find(t => t.mode === 'markers+text' && t.customdata.includes('{path}'));
        const i = trace.customdata.indexOf('{path}'), box = el.getBoundingClientRect(), size = el._fullLayout._size;
        return [box.left + size.l + el._fullLayout.xaxis.l2p(trace.x[i]),
                box.top + size.t + el._fullLayout.yaxis.l2p(trace.y[i])];
    }}""")
    page.mouse.click(x, y)
    page.wait_for_url(f"**{path}")


def test_plant_map_click_through_and_zone_editor(sites, wide, screenshots):
    live, acme, _, plant, _ = sites
    errors = collect_errors(wide)
    log_in(wide, live.url, acme.email)
    wide.click(f".topnav a:has-text('{JA['nav_network_map']}')")
    wide.wait_for_selector(MAP)
    assert wide.locator(".topnav a.active").inner_text() == JA["nav_network_map"]
    nodes = wide.evaluate(NODES)
    assert {f"/assets/{d['mac']}" for d in plant} <= set(nodes)
    zones = wide.locator(MAP).evaluate("el => el.layout.annotations.map(a => a.hovertext)")
    assert zones == ["10.10.0.0/24"]  # one subnet, untagged
    assert _fits(wide)
    shoot(wide, screenshots / "netmap-plant-ja.png", full_page=True)

    logix = next(d for d in plant if d["name"] == "plc-logix-1")
    _click_node(wide, f"/assets/{logix['mac']}")
    assert logix["ip"] in wide.locator("h1").inner_text()

    _open_map(wide, live.url, "en")
    hmis = [d["mac"] for d in plant if d["name"].startswith("hmi-")]
    wide.select_option("select[name=devices]", hmis)
    wide.fill("input[name=zone]", "Control room")
    wide.select_option("#zone-editor select[name=purdue_level]", "2")
    follow(wide, f"#zone-editor button:has-text('{EN['zone_assign']}')")
    assert wide.locator(".notice").inner_text() == EN["zone_saved"]
    wide.wait_for_selector(MAP)
    zones = wide.locator(MAP).evaluate("el => el.layout.annotations.map(a => a.hovertext)")
    assert zones == ["Control room · L2", "10.10.0.0/24"]
    rows = wide.locator("#zone-links tbody tr td:nth-child(1)").all_inner_texts()
    assert "Control room" in rows  # the HMIs now reach the PLCs across zones
    assert _fits(wide)
    shoot(wide, screenshots / "netmap-plant-en.png", full_page=True)
    assert errors == []


def test_two_hundred_devices(sites, wide, screenshots):
    live, _, bigco, _, hosts = sites
    assert len(hosts) == 200
    errors = collect_errors(wide)
    log_in(wide, live.url, bigco.email)
    for lang, messages in (("ja", JA), ("en", EN)):
        seconds = _open_map(wide, live.url, lang)
        print(f"200 devices, {lang}: map drawn {seconds * 1000:.0f} ms after navigation")
        assert len([n for n in wide.evaluate(NODES) if n]) == 200
        zones = wide.locator(MAP).evaluate("el => el.layout.annotations.map(a => a.hovertext)")
        assert zones == [messages["zone_external"], "Site operations · L3", "Supervisory · L2", "Cell 1 · L1",
                         "Cell 2 · L1", "Cell 3 · L1", "Cell 4 · L1", "10.20.7.0/24", "VLAN 50"]
        assert _fits(wide)
        shoot(wide, screenshots / f"netmap-200-{lang}.png", full_page=True)
    assert errors == []
