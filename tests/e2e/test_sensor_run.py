"""`mieruka-sensor run` capturing live on the loopback interface (Scapy's AF_PACKET socket, dumpcap's
ring of files, or the kernel's mmap ring), with traffic this test makes: the flows arrive at a real core exactly as sent,
kernel drops are counted, and SIGTERM flushes the interval being captured."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from installtest import one_line, sensor
from runtest import CoreProcess, free_port, sensor_run, write_config

UDP_DATAGRAMS, UDP_PAYLOAD = 300, 100
TCP_REQUEST, TCP_REPLY = b"q" * 3000, b"r" * 70_000

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="live capture needs root")


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    server = CoreProcess(tmp_path_factory.mktemp("core")).start()
    yield server
    server.stop()


def capture_modes(tpacket: bool = True):
    dumpcap = pytest.mark.skipif(not shutil.which("dumpcap"), reason="dumpcap not installed (apt-get install tshark)")
    return [pytest.param("scapy"), pytest.param("dumpcap", marks=dumpcap)] + [pytest.param("tpacket")] * tpacket


def udp_burst(port: int, datagrams: int, payload: int, pause: float = 0.0) -> None:
    """``datagrams`` to 127.0.0.1:port, received (so no ICMP errors join the capture)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        rx.bind(("127.0.0.1", port))
        for _ in range(datagrams):
            tx.sendto(bytes(payload), ("127.0.0.1", port))
            if pause:
                time.sleep(pause)


def tcp_exchange(port: int) -> None:
    """One TCP connection: a request, a reply, both sides closing."""
    with socket.create_server(("127.0.0.1", port)) as server:
        def answer():
            conn, _ = server.accept()
            with conn:
                got = b""
                while len(got) < len(TCP_REQUEST):
                    got += conn.recv(65536)
                conn.sendall(TCP_REPLY)
        replier = threading.Thread(target=answer)
        replier.start()
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(TCP_REQUEST)
            got = b""
            while len(got) < len(TCP_REPLY):
                got += client.recv(65536)
        replier.join()


def flows(core, tenant, port: int) -> list[dict]:
    return [f for f in core.get(tenant, "/api/v1/flows", host="127.0.0.1", limit=1000) if f["resp_p"] == port]


@pytest.mark.parametrize("capture", capture_modes())
def test_live_capture_on_loopback_reaches_the_core(core, tmp_path, capture):
    udp, tcp = free_port(), free_port()
    tenant = core.provision(f"live-{capture}")
    config = write_config(tmp_path / "sensor.toml", core.url, tenant, f"SN-live-{capture}", interface="lo",
                          capture=capture, bpf_filter=f"udp port {udp} or tcp port {tcp}",
                          ring_dir=str(tmp_path / "ring"), ring_seconds=1, interval_s=1.0, heartbeat_s=1.0)
    with sensor_run(config) as run:
        run.wait_for("capturing on lo")
        udp_burst(udp, UDP_DATAGRAMS, UDP_PAYLOAD, pause=0.005)  # over more than one interval
        tcp_exchange(tcp)
        time.sleep(0.5)
        assert run.stop() == 0, run.log  # SIGTERM: the interval being captured is flushed and sent
    assert "0 left in the spool" in run.log

    records = flows(core, tenant, udp)  # the datagrams' flow, one record per interval it spans
    assert sum(r["orig_pkts"] for r in records) == UDP_DATAGRAMS and sum(r["resp_pkts"] for r in records) == 0
    assert sum(r["orig_bytes"] for r in records) == UDP_DATAGRAMS * UDP_PAYLOAD
    connection = flows(core, tenant, tcp)
    assert sum(r["orig_bytes"] for r in connection) == len(TCP_REQUEST)
    assert sum(r["resp_bytes"] for r in connection) == len(TCP_REPLY)
    assert [r["conn_state"] for r in connection if r["final"]] == ["SF"]
    totals = core.get(tenant, "/api/v1/totals")
    assert totals["captured_packets"] == totals["packets"]  # the filter let only these flows in
    assert totals["kernel_drops"] == 0 and totals["batches"] >= 2
    [listed] = core.get(tenant, "/api/v1/sensors")
    assert listed["health"]["data_mode"] == "full" and listed["health"]["spool_depth"] == 0


def capturing_process(pid: int, capture: str) -> int:
    """The process reading the capture socket: the sensor itself, or its dumpcap."""
    if capture == "scapy":
        return pid
    children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]
    return next(c for c in children if Path(f"/proc/{c}/comm").read_text().strip() == "dumpcap")


@pytest.mark.parametrize("capture", capture_modes(tpacket=False))  # (tpacket's: tests/sensor/test_live_capture.py)
def test_kernel_drops_are_counted(core, tmp_path, capture):
    """Datagrams sent while the capturing process is paused overflow its 1 MiB buffer: what the kernel
    dropped is counted, and every datagram is either captured or counted as dropped."""
    port, sent = free_port(), 5000
    tenant = core.provision(f"drops-{capture}")
    config = write_config(tmp_path / "sensor.toml", core.url, tenant, f"SN-drops-{capture}", interface="lo",
                          capture=capture, bpf_filter=f"udp port {port}", capture_buffer_mb=1,
                          ring_dir=str(tmp_path / "ring"), ring_seconds=1, interval_s=1.0)
    with sensor_run(config) as run:
        run.wait_for("capturing on lo")
        paused = capturing_process(run.proc.pid, capture)
        os.kill(paused, signal.SIGSTOP)
        try:
            udp_burst(port, sent, 1000)
        finally:
            os.kill(paused, signal.SIGCONT)
        time.sleep(1.5)
        assert run.stop() == 0, run.log
    totals = core.get(tenant, "/api/v1/totals")
    # on loopback the kernel queues each datagram twice (out, then in), so a lost one is dropped once or twice
    assert 0 < totals["kernel_drops"] and totals["captured_packets"] < sent <= totals["captured_packets"] + \
        totals["kernel_drops"], totals


def test_bad_capture_settings_are_one_line(core, tmp_path):
    tenant = core.provision("bad-settings")
    config = write_config(tmp_path / "sensor.toml", core.url, tenant, "SN-bad", interface="lo", bpf_filter="udp port")
    res = sensor("run", config=config, capture=None)
    assert res.returncode == 1
    assert one_line(res).startswith("mieruka-sensor: bad capture filter 'udp port'"), res.stderr
    config.write_text(config.read_text().replace('capture = "tpacket"', 'capture = "pcap"'))
    res = sensor("run", config=config, capture=None)
    assert res.returncode == 1 and "capture must be one of scapy, dumpcap, tpacket, not 'pcap'" in one_line(res)
