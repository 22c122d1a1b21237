import json
from datetime import datetime, timedelta, timezone

from dashboard.figures import MAX_BARS, embed, events_figure, protocol_figure, talkers_figure, traffic_figure
from dashboard.i18n import translator

T = translator("en")
START = datetime(2024, 4, 1, 0, 0, tzinfo=timezone.utc)


def test_traffic_figure_has_bytes_and_packets_in_tokyo_time():
    series = [{"t": START + timedelta(minutes=i), "bytes": 1000 * i, "packets": i, "flows": 1} for i in range(3)]
    fig = traffic_figure(series, 60, T)
    bytes_trace, packets_trace = fig.data
    assert list(bytes_trace.y) == [0, 1000, 2000]
    assert list(packets_trace.y) == [0, 1, 2]
    assert bytes_trace.x[0] == datetime(2024, 4, 1, 9, 0)  # naive JST for plotly.js
    assert bytes_trace.fill == "tozeroy"


def test_traffic_figure_scales_wider_steps_to_per_minute():
    fig = traffic_figure([{"t": START, "bytes": 600, "packets": 30, "flows": 1}], 300, T)
    assert list(fig.data[0].y) == [120] and list(fig.data[1].y) == [6]


def test_empty_inputs_give_no_figure():
    assert traffic_figure([], 60, T) is None
    assert traffic_figure([{"t": START, "bytes": 0, "packets": 0, "flows": 0}], 60, T) is None
    assert protocol_figure([], T) is None
    assert talkers_figure([{"ip": "10.0.0.1", "bytes": 0, "packets": 0, "peers": 0}], T) is None


def test_protocol_figure_labels_service_and_proto_largest_on_top():
    rows = [
        {"service": "modbus", "proto": "tcp", "bytes": 500, "packets": 5, "flows": 1},
        {"service": "", "proto": "udp", "bytes": 900, "packets": 9, "flows": 2},
    ]
    bar = protocol_figure(rows, T).data[0]
    assert bar.orientation == "h"
    assert list(bar.y) == ["modbus/tcp", "udp"]  # plotly draws the last category on top
    assert list(bar.x) == [500, 900]


def test_talkers_figure_keeps_the_largest():
    rows = [{"ip": f"10.0.0.{i}", "bytes": i, "packets": 1, "peers": 1} for i in range(1, 30)]
    bar = talkers_figure(rows, T).data[0]
    assert len(bar.y) == MAX_BARS
    assert bar.y[-1] == "10.0.0.29"


def test_events_figure_has_a_trace_per_protocol_and_a_row_per_action():
    def event(minute, protocol, action, count=1):
        return {"ts": START + timedelta(minutes=minute), "protocol": protocol, "action": action,
                "orig_h": "10.0.0.1", "resp_h": "10.0.0.2", "status": "ok", "count": count}

    events = [event(2, "s7comm", "stop"), event(1, "modbus", "read", count=40), event(0, "modbus", "")]
    modbus, s7 = events_figure(events).data
    assert (modbus.name, s7.name) == ("modbus", "s7comm")
    assert list(modbus.y) == ["modbus · read", "modbus · -"]
    assert modbus.x[0] == datetime(2024, 4, 1, 9, 1)  # naive JST for plotly.js
    assert list(s7.customdata[0]) == ["10.0.0.1", "10.0.0.2", "ok", 1]
    assert modbus.customdata[0][3] == 40  # a folded row: how many times it happened
    assert events_figure([]) is None


def test_embed_passes_none_through():
    assert embed(None) is None


def test_embed_is_json_that_cannot_close_its_script_tag():
    fig = talkers_figure([{"ip": "</script><b>", "bytes": 1, "packets": 1, "peers": 1}], T)
    text = str(embed(fig))
    assert "<" not in text and ">" not in text
    assert json.loads(text)["data"][0]["y"] == ["</script><b>"]
