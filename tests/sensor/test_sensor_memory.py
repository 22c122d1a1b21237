"""What keeps the sensor's memory small at many concurrent flows: the application layer keeps no
object for a flow no decoder takes and no decoder session for a flow on a compiled path; the
sensor process runs pyarrow without pandas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.concurrent_flows import write as write_concurrent
from sensor.meter.applayer import AppLayer
from sensor.meter.pipeline import iter_intervals

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def busy_site(tmp_path_factory) -> Path:
    """bench/concurrent_flows.py's capture, small: 1,000 flows open at once, four in five Modbus/TCP."""
    path = tmp_path_factory.mktemp("busy") / "concurrent.pcap"
    write_concurrent(path, flows=1000, rounds=4)
    return path


def test_flows_on_a_compiled_path_or_never_detected_hold_no_decoder_state(busy_site, monkeypatch):
    held: list[list] = []
    flush = AppLayer.flush

    def watched(self):
        held.append(list(self._flows.values()))  # before the end of input releases them
        return flush(self)

    monkeypatch.setattr(AppLayer, "flush", watched)
    [interval] = list(iter_intervals([busy_site], 60.0))
    services = dict(zip(interval.flows["uid"].to_pylist(), interval.flows["service"].to_pylist()))
    [flows] = held
    modbus = {uid for uid, service in services.items() if service == "modbus"}
    assert len(services) == 1000 and 700 < len(modbus) < 900
    # one object per Modbus flow, none for the UDP flows that no decoder took
    assert {flow.uid for flow in flows} == modbus and not any(services[uid] for uid in set(services) - modbus)
    assert all(flow.fid is not None and flow._session is None and flow._streams is None for flow in flows)
    assert len(interval.events) == len(modbus)  # each flow's request and answer, decoded all the same


def test_the_sensor_process_runs_pyarrow_without_pandas(busy_site):
    pytest.importorskip("pandas")  # (installed by the dev and core extras; the sensor extra has none)
    code = ("import sys; from sensor.meter import pipeline; pipeline.lean_process();"
            "n = sum(iv.flows.num_rows for iv in pipeline.iter_intervals([sys.argv[1]]));"
            "print(n, 'pandas' in sys.modules); import pandas; print(pandas.DataFrame({'a': [1]}).shape)")
    out = subprocess.run([sys.executable, "-c", code, str(busy_site)], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[:2] == ["1000 False", "(1, 1)"]  # and anything else may still import pandas
