"""What sensors report shown in the page's language with units (issue 14, fault 9): attribute names,
OT function names and event details on a device's page, round-trip times in ms, bytes axes in B/kB/MB."""

from __future__ import annotations

import html as markup
import json
import re
from datetime import timedelta

import pytest
from coretest import T0, make_batch, post_batch
from test_assets_pages import PLC, plant  # noqa: F401 (plant: a fixture)

from dashboard.figures import byte_axis, protocol_figure
from dashboard.i18n import MESSAGES, translator
from sensor import wire

START = T0 + timedelta(minutes=3)


def reported_batch() -> bytes:
    """A Modbus read with its round-trip time and a detail no catalogue names, and two attributes of
    the PLC: one the catalogue names, one it does not."""
    event = dict(ts=START, ts_end=START, count=1, uid="C9", orig_h="10.1.0.1", resp_h="10.1.0.2", resp_p=502,
                 protocol="modbus", action="read_holding_registers", status="ok",
                 attrs={"rtt": "0.001500", "rtt_max": "0.250000", "odd_detail": "7"})
    facts = [dict(ts=START, mac=PLC, ip="10.1.0.2", attribute=name, value=value, source="dns", confidence=80)
             for name, value in (("dns_name", "plc.plant.local"), ("odd_attribute", "x"))]
    return wire.encode(make_batch(flows=[], events=[event], observations=facts, start=START))


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_device_page_names_attributes_functions_and_details_in_its_language(client, plant, login, lang):  # noqa: F811
    assert post_batch(client, plant.sensor_token, reported_batch()).status_code == 200
    login(plant)
    page = client.get(f"/assets/{PLC}", params={"lang": lang}).text
    shown = MESSAGES[lang]
    attributes = re.findall(r'<th scope="rowgroup"[^>]*title="([^"]+)">([^<]+)</th>', page)
    assert ("dns_name", shown["attr_dns_name"]) in attributes
    assert ("vendor", shown["attr_vendor"]) in attributes
    assert ("odd_attribute", "odd attribute") in attributes  # readable, not a key
    events = page[page.index('id="events"'):]
    assert f'<td class="fn" title="read_holding_registers">{shown["fn_read_holding_registers"]}' in events
    assert f'<td class="fn" title="write_single_register">{shown["fn_write_single_register"]}' in events
    assert f'<span class="kv"><span>{shown["detail_rtt"]}</span>1.5 ms</span>' in events
    assert f'<span class="kv"><span>{shown["detail_rtt_max"]}</span>250 ms</span>' in events
    assert '<span class="kv"><span>odd detail</span>7</span>' in events
    assert "0.001500" not in events and "rtt=" not in events
    timeline = json.loads(markup.unescape(re.search(r'id="timeline".*?<script[^>]*>(.*?)</script>', page,
                                                    re.DOTALL).group(1)))
    assert f'modbus · {shown["fn_read_holding_registers"]}' in {y for trace in timeline["data"] for y in trace["y"]}


def test_an_unknown_function_is_shown_as_the_sensor_names_it():
    from dashboard.reported import function_label, milliseconds

    t = translator("ja")
    assert function_label("Read Tag", t) == MESSAGES["ja"]["fn_read_tag"]
    assert function_label("READ_COILS", t) == MESSAGES["ja"]["fn_read_coils"]
    assert function_label("Cancels NC alarm", t) == "Cancels NC alarm"
    assert function_label("unknown-0x5a", t) == "unknown-0x5a"
    assert milliseconds("0.000042") == "0.042 ms" and milliseconds("n/a") == "n/a"


def test_byte_axes_say_their_unit():
    assert byte_axis(6_300_000)["ticktext"] == ["0 B", "2 MB", "4 MB", "6 MB"]
    assert byte_axis(1500)["ticktext"] == ["0 B", "500 B", "1 kB", "1.5 kB"]
    assert byte_axis(3)["tickvals"] == [0, 1, 2, 3]  # whole bytes
    fig = protocol_figure([{"service": "modbus", "proto": "tcp", "bytes": 6_300_000}], translator("en"))
    assert fig.layout.xaxis.ticktext[-1] == "6 MB" and not fig.layout.xaxis.tickformat
