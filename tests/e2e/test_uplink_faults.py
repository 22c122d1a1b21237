"""Nothing lost, nothing duplicated: a real `mieruka-sensor run` process uploads a simulated capture
(the stand-in for its mirror port) to a real core process over a link that fails on purpose. After
each fault the core's totals equal the capture's, counted independently with dpkt.

The faults come from a TCP proxy on 127.0.0.1 (tests/faultproxy.py), except packet loss, which is
real: the sensor runs in a network namespace behind a veth pair whose packets nftables drops at
random (the kernel here has no netem; nftables' numgen does the same job for loss).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from capturetest import capture_totals
from faultproxy import FaultProxy
from installtest import sensor
from runtest import CoreProcess, eventually, sensor_run, write_config

from sensor import simulate
from sensor.meter import pipeline
from sensor.ship.spool import SUFFIX

PACKETS = 20_000  # about 70 s of simulated plant
INTERVAL = 10.0  # → 8 batches
QUICK = {"interval_s": INTERVAL, "heartbeat_s": 1.0, "upload_timeout_s": 2.0, "retry_max_s": 0.5}
DUPLICATES = 'mieruka_ingest_batches_total{result="duplicate"}'


@dataclass
class Plant:
    capture: Path  # stand-in interfaces: eth1.pcap is the plant
    quiet: Path  # eth1.pcap without packets: the port after the capture
    expected: dict


@pytest.fixture(scope="module")
def plant(tmp_path_factory) -> Plant:
    root = tmp_path_factory.mktemp("plant")
    (root / "busy").mkdir()
    (root / "quiet").mkdir()
    path = root / "busy" / "eth1.pcap"
    simulate.write_pcap(path, packets=PACKETS, seed=11)
    (root / "quiet" / "eth1.pcap").write_bytes(path.read_bytes()[:24])  # the file header alone
    counted = capture_totals(path)
    batches = sum(1 for _ in pipeline.iter_intervals([path], INTERVAL, protocols=()))
    expected = {"captured_packets": counted["packets"], "captured_bytes": counted["frame_bytes"],
                "packets": counted["packets"], "bytes": counted["layer_bytes"], "batches": batches,
                "parse_errors": 0, "kernel_drops": 0}
    return Plant(root / "busy", root / "quiet", expected)


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    server = CoreProcess(tmp_path_factory.mktemp("core")).start()
    yield server
    server.stop()


@pytest.fixture
def proxy(core):
    fault = FaultProxy(core.port)
    yield fault
    fault.close()


def totals(core, tenant) -> dict:
    got = core.get(tenant, "/api/v1/totals")
    return {name: got[name] for name in ("captured_packets", "captured_bytes", "packets", "bytes", "batches",
                                         "parse_errors", "kernel_drops")}


def delivered(core, tenant, plant: Plant, run, timeout: float = 60.0) -> None:
    """Wait until the core has the whole capture; then it must have it exactly (else show the
    sensor's log: what it was doing)."""
    try:
        eventually(lambda: totals(core, tenant)["batches"] >= plant.expected["batches"], timeout, every=0.5)
    finally:
        assert totals(core, tenant) == plant.expected, f"sensor log:\n{run.log[-4000:]}"


def sensor_health(core, tenant) -> dict:
    """The sensor's latest health report, as the core lists it."""
    return core.get(tenant, "/api/v1/sensors")[0]["health"] or {}


def start(core, url: str, plant: Plant, tmp_path: Path, name: str, netns: str | None = None, **settings):
    tenant = core.provision(name)
    config = write_config(tmp_path / "sensor.toml", url, tenant, f"SN-{name}", **(QUICK | settings))
    return sensor_run(config, plant.capture, netns), tenant, config


def assert_clean_spool(spool: Path) -> None:
    assert not list(spool.glob(f"*{SUFFIX}")) and not list(spool.glob(".*.tmp"))
    json.loads((spool / "state.json").read_text())


def test_connections_cut_mid_request_and_mid_response(core, proxy, plant, tmp_path):
    proxy.mode = "cut"
    run, tenant, _ = start(core, proxy.url, plant, tmp_path, "cut")
    with run:
        delivered(core, tenant, plant, run)
        assert run.stop() == 0, run.log
    assert proxy.cuts >= 3 and "retrying in" in run.log
    assert_clean_spool(tmp_path / "spool")


@pytest.mark.parametrize("seconds", [3, 20], ids=["outage-3s", "outage-20s"])
def test_outage_then_recovery(core, proxy, plant, tmp_path, seconds):
    proxy.mode = "blackhole"  # a dead radio link: nothing answers, nothing is refused
    run, tenant, _ = start(core, proxy.url, plant, tmp_path, f"outage-{seconds}")
    with run:
        run.wait_for("the capture ended")
        time.sleep(seconds)
        assert totals(core, tenant)["batches"] == 0 and "health report not delivered" in run.log
        proxy.mode = "pass"
        delivered(core, tenant, plant, run, timeout=15)
        assert run.stop() == 0, run.log
    assert_clean_spool(tmp_path / "spool")


def test_core_crashes_and_restarts_mid_upload(core, proxy, plant, tmp_path):
    proxy.mode = "slow"  # answers take a while: the crash lands while batches are on their way
    run, tenant, _ = start(core, proxy.url, plant, tmp_path, "restart")
    with run:
        eventually(lambda: totals(core, tenant)["batches"] >= 2)
        core.process.kill()  # kill -9: no graceful shutdown
        time.sleep(1)
        core.start()
        proxy.mode = "pass"
        delivered(core, tenant, plant, run)
        assert run.stop() == 0, run.log
    assert "retrying in" in run.log, run.log


def test_sensor_killed_mid_upload(core, proxy, plant, tmp_path):
    """kill -9 after the core stored a batch and before the sensor heard so: the restarted sensor
    resends it from the spool and the core recognises it."""
    proxy.mode = "hold"  # the core's answers do not come back
    run, tenant, config = start(core, proxy.url, plant, tmp_path, "killed")
    with run:
        run.wait_for("the capture ended")  # every batch is in the spool
        eventually(lambda: totals(core, tenant)["batches"] == 1)
        run.kill()
    time.sleep(0.5)  # let the core finish any request the killed sensor had sent
    duplicates = core.metric(DUPLICATES)
    proxy.mode = "pass"
    with sensor_run(config, plant.quiet) as again:  # the same box restarted; its port is quiet now
        delivered(core, tenant, plant, again)
        assert again.stop() == 0, again.log
    assert core.metric(DUPLICATES) == duplicates + 1
    assert_clean_spool(tmp_path / "spool")


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs for the spool, filled up by ``filler``."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    disk = tmp_path / "spool"
    disk.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", disk]
    if subprocess.run(mount, capture_output=True, check=False).returncode:
        pytest.skip("cannot mount tmpfs here")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", disk], check=True)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(bytes(4096))
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_spool_disk_full(core, proxy, plant, tmp_path, tiny_disk):
    filler = fill(tiny_disk)
    run, tenant, config = start(core, proxy.url, plant, tmp_path, "diskfull")
    with run:
        run.wait_for("cannot write to the spool (No space left on device)")
        eventually(lambda: sensor_health(core, tenant).get("spool_write_failures"))
        assert sorted(p.name for p in tiny_disk.iterdir()) == ["filler"]  # no partial batch, nothing half-written
        assert totals(core, tenant)["batches"] == 0
        filler.unlink()
        delivered(core, tenant, plant, run)
        assert run.stop() == 0, run.log
    assert "the spool takes batches again" in run.log
    assert_clean_spool(tiny_disk)
    status = sensor("status", config=config, capture=None).stdout
    assert "writes failed (disk full?)" in status, status


@pytest.fixture
def lossy_namespace():
    """A network namespace joined to this one by a veth pair whose packets nftables drops at random
    (10 % each way); yields (namespace, address of this side)."""
    if os.geteuid() != 0 or not (shutil.which("ip") and shutil.which("nft")):
        pytest.skip("needs root, ip and nft (apt-get install -y iproute2 nftables)")
    pid = os.getpid()
    ns, here, there = f"mk{pid}", f"mk{pid}a", f"mk{pid}b"
    subnet = f"10.213.{(pid >> 6) & 255}.{(pid & 63) << 2}"  # a /30 of its own
    ours, theirs = (subnet.rsplit(".", 1)[0] + f".{int(subnet.rsplit('.', 1)[1]) + i}" for i in (1, 2))
    commands = [
        f"ip netns add {ns}", f"ip link add {here} type veth peer name {there}", f"ip link set {there} netns {ns}",
        f"ip addr add {ours}/30 dev {here}", f"ip link set {here} up",
        f"ip -n {ns} addr add {theirs}/30 dev {there}", f"ip -n {ns} link set {there} up",
        f"ip -n {ns} link set lo up",
        # packets of at most one MTU, as on a radio link (no 64 KiB offload super-packets)
        f"ip link set {here} gso_max_size 1500", f"ip -n {ns} link set {there} gso_max_size 1500",
        f"ip netns exec {ns} nft add table inet loss",
        *(f"ip netns exec {ns} nft add chain inet loss {hook} {{ type filter hook {hook} priority 0 ; }}"
          for hook in ("input", "output")),
        *(f"ip netns exec {ns} nft add rule inet loss {hook} numgen random mod 100 < 10 counter drop"
          for hook in ("input", "output")),
    ]
    try:
        for command in commands:
            if subprocess.run(command.split(), capture_output=True, check=False).returncode:
                pytest.skip(f"not permitted here: {command}")
        yield ns, ours
    finally:
        subprocess.run(["ip", "link", "del", here], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def dropped(ns: str) -> int:
    """Packets nftables dropped in namespace ``ns``."""
    rules = subprocess.run(["ip", "netns", "exec", ns, "nft", "list", "table", "inet", "loss"],
                           capture_output=True, text=True, check=True).stdout
    return sum(int(n) for n in re.findall(r"counter packets (\d+)", rules))


def test_packet_loss_on_a_real_link(core, plant, tmp_path, lossy_namespace):
    ns, address = lossy_namespace
    relay = FaultProxy(core.port, host=address)  # only forwards: the loss is the kernel's
    try:
        run, tenant, _ = start(core, relay.url, plant, tmp_path, "loss", netns=ns, upload_timeout_s=5.0)
        with run:
            delivered(core, tenant, plant, run)
            assert run.stop() == 0, run.log
    finally:
        relay.close()
    assert dropped(ns) >= 5  # the loss really hit the upload (batches are a few KiB: ~100 segments)
    assert_clean_spool(tmp_path / "spool")
