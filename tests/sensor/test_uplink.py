"""Uplink against a real HTTP server on 127.0.0.1 that misbehaves on purpose."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sensor.ship.spool import Spool
from sensor.ship.uplink import Backoff, Uplink


class FlakyCore:
    """Scripted core: each request takes the next action from `script`, then 'ok' forever."""

    def __init__(self, script):
        self.script = list(script)
        self.stored: dict[str, bytes] = {}
        self.requests: list[str] = []
        core = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                batch_id = self.headers["X-Batch-Id"]
                core.requests.append(batch_id)
                assert self.headers["Authorization"] == "Bearer tok"
                action = core.script.pop(0) if core.script else "ok"
                if action == "down":  # the link is down: the connection dies before the core sees it
                    self.connection.close()
                    return
                if action == "drop":  # store, then lose the response
                    core.stored[batch_id] = body
                    self.connection.close()
                    return
                if action in ("503", "400", "401"):
                    self._reply(int(action), {"detail": f"scripted {action}"})
                    return
                if action == "portal":  # an LTE carrier's captive portal answers instead of the core
                    page = b"<html>top up your data plan</html>"
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return
                dup = batch_id in core.stored
                core.stored[batch_id] = body
                self._reply(200, {"status": "duplicate" if dup else "stored"})

            def _reply(self, code, obj):
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def spool(tmp_path):
    s = Spool(tmp_path)
    for i in range(3):
        s.put(f"0000000{i}-0000-0000-0000-000000000000", f"batch-{i}".encode())
    return s


def run(script, spool):
    core = FlakyCore(script)
    delays = []
    uplink = Uplink(core.url, "tok", spool, timeout=5, backoff=Backoff(base=0.01, cap=0.05))
    try:
        report = uplink.drain(sleep=delays.append)
    finally:
        uplink.close()
        core.close()
    return core, report, delays


def test_retries_server_errors_with_backoff_then_delivers_in_order(spool):
    core, report, delays = run(["503", "503"], spool)
    assert report.sent == 3 and report.retries == 2
    assert len(delays) == 2 and all(0 <= d <= 0.05 for d in delays)
    assert [core.stored[k] for k in sorted(core.stored)] == [b"batch-0", b"batch-1", b"batch-2"]
    assert spool.pending() == []


def test_lost_response_is_resent_with_same_id_and_deduplicated(spool):
    core, report, _ = run(["ok", "drop"], spool)
    assert core.requests[1] == core.requests[2]  # the resend reuses the batch id
    assert report.sent == 2 and report.duplicates == 1
    assert len(core.stored) == 3 and spool.pending() == []


def test_permanent_rejection_sets_batch_aside_and_continues(spool, tmp_path):
    core, report, _ = run(["400"], spool)
    assert report.rejected == 1 and report.sent == 2
    assert "scripted 400" in report.last_error
    assert len(list((tmp_path / "rejected").glob("*.mrkb"))) == 1


def test_refused_credentials_keep_every_batch_queued(spool, tmp_path):
    """A 401 (the sensor's identity moved to a replacement box, or its token was revoked) is not the
    batch's fault: nothing is set aside, and the batches go once the core accepts the sensor again."""
    core, report, _ = run(["401", "401"], spool)
    assert report.refused == 2 and report.rejected == 0 and report.sent == 3
    assert "activate" in report.last_error and "scripted 401" in report.last_error
    assert not (tmp_path / "rejected").exists() or not list((tmp_path / "rejected").iterdir())
    assert core.requests[0] == core.requests[1] == core.requests[2]  # the same oldest batch, again


def test_resumes_within_the_backoff_cap_after_a_24_hour_outage(spool):
    """A day without a link (simulated time: each backoff sleep advances a clock), then the link is
    back: every batch goes, in order, within one capped delay of the link returning."""
    day, cap = 24 * 3600, 300.0
    core, clock, delays = FlakyCore(["down"]), [0.0], []

    def sleep(delay: float) -> None:
        delays.append(delay)
        clock[0] += delay
        if clock[0] < day:
            core.script.append("down")

    uplink = Uplink(core.url, "tok", spool, timeout=5, backoff=Backoff(base=1.0, cap=cap))
    try:
        report = uplink.drain(sleep=sleep)
    finally:
        uplink.close()
        core.close()
    assert report.sent == 3 and report.rejected == 0 and spool.pending() == []
    assert sorted(core.stored) == [f"0000000{i}-0000-0000-0000-000000000000" for i in range(3)]
    assert day <= clock[0] < day + cap and max(delays) <= cap
    assert report.retries == len(delays) > day / cap  # it kept trying all day, at least once per capped delay


def test_unreachable_core_stops_at_deadline_keeping_everything(spool):
    uplink = Uplink("http://127.0.0.1:9", "tok", spool, timeout=1, backoff=Backoff(base=0.01, cap=0.02))
    report = uplink.drain(deadline=time.monotonic() + 0.3, sleep=time.sleep)
    uplink.close()
    assert report.sent == 0 and report.retries >= 1
    assert "ConnectError" in report.last_error
    assert len(spool.pending()) == 3


def test_a_200_that_is_not_the_core_s_answer_is_retried(spool, tmp_path):
    core, report, _ = run(["portal"], spool)
    assert report.sent == 3 and report.retries == 1 and "not a core's answer" in report.last_error
    assert core.requests[0] == core.requests[1]
    assert json.loads((tmp_path / "uplink.json").read_text())["last_upload"]


def test_set_aside_batches_show_in_the_health_report_and_status(spool, tmp_path):
    """A batch the core can never store is set aside with the core's reason and does not hold up the
    queue; `mieruka-sensor status` and the health report the core keeps say how many, and why."""
    import subprocess
    import sys
    from pathlib import Path

    from sensor.site import config as sensor_config
    from sensor.ship import health

    core, report, _ = run(["400", "ok", "400"], spool)
    assert report.rejected == 2 and report.sent == 1 and spool.pending() == []
    snapshot = health.snapshot(spool, 0)
    assert snapshot["spool_rejected"] == 2 and snapshot["last_rejection"] == "400: scripted 400"
    cfg = sensor_config.SensorConfig(core_url=core.url, token="tok", sensor_id=1, serial="SN-1",
                                     interface="eth1", spool=str(tmp_path))
    sensor_config.save(cfg, tmp_path / "sensor.toml")
    cli = Path(sys.executable).parent / "mieruka-sensor"
    status = subprocess.run([cli, "status", "--config", tmp_path / "sensor.toml"], capture_output=True, text=True,
                            timeout=120)
    assert "2 set aside, refused by the core (last: 400: scripted 400)" in status.stdout, status.stderr


def test_a_batch_that_cannot_be_set_aside_is_dropped_not_retried(spool, tmp_path):
    (tmp_path / "rejected").write_text("a file where the directory should be")  # reject() fails
    core, report, _ = run(["400"], spool)
    assert report.rejected == 1 and report.sent == 2 and spool.pending() == []
    assert spool.stats()["evicted"] == 1  # counted as lost, never silently
