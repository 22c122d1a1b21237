"""A fleet of customer tenants for the data team's statistics: five simulated plants of different
seeds, sizes and kinds (two without incidents, one camera-heavy) through the real sensor pipeline and
``core.ingest.Ingestor`` (detection on), in January 2026 and, for four of them, again in February;
three extra Hikvision cameras each (a CVE of the shared advisories), and one Omron PLC that only
one tenant has (the cell that would single it out). Plus the provider's tenant with its data team."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from coretest import PASSWORD, make_batch, provision

from core.access import accounts
from core.store.controlplane import Sensor, Tenant
from core.vulns.store import import_path
from sensor import simulate, wire
from sensor.meter import pipeline
from sensor.meter.observe import Observer

CSAF = Path(__file__).resolve().parents[2] / "shared" / "advisories" / "csaf"
JANUARY = datetime(2026, 1, 5, tzinfo=UTC)  # the simulator's default start
FEBRUARY = datetime(2026, 2, 9, tzinfo=UTC)
# name, seed, packets, incidents, camera-heavy
PLANTS = (("kawasaki-seiko", 1, 24_000, True, False), ("nagoya-denki", 2, 26_000, True, False),
          ("hokuriku-kagaku", 3, 21_000, True, False), ("setouchi-suido", 4, 15_000, False, False),
          ("tohoku-unyu", 5, 12_000, False, True))
LONE = "tohoku-unyu"  # the only tenant with an Omron PLC
DATATEAM = "data@provider.example"


@dataclass
class Plant:
    name: str
    id: int
    sensor_id: int
    serial: str
    identifiers: set[str] = field(default_factory=set)  # names, addresses, MACs, hosts it must not leak


def _camera_facts(index: int, ts: datetime) -> list[dict]:
    rows = []
    for i in range(3):
        mac, ip = f"44:19:b6:{index:02x}:7e:{i:02x}", f"10.10.1.{10 + i}"
        for attribute, value in (("vendor", "Hangzhou Hikvision Digital Technology Co.,Ltd."),
                                 ("model", "DS-2CD2032F-I"), ("firmware", "V5.4.0 build 160530"),
                                 ("hostname", f"cam-gate-{index}-{i}"), ("serial", f"DS2032F{index}{i}0417")):
            rows.append(dict(ts=ts, mac=mac, ip=ip, attribute=attribute, value=value, source="http", confidence=90))
    return rows


def _omron_facts(ts: datetime) -> list[dict]:
    return [dict(ts=ts, mac="00:00:0a:4c:21:07", ip="10.10.1.50", attribute=a, value=v, source="fins", confidence=90)
            for a, v in (("vendor", "OMRON Corporation"), ("model", "CJ2M-CPU31"), ("firmware", "2.1"))]


def _ingest(app, plant: Plant, seed: int, packets: int, risky: bool, cameras: bool, start: datetime,
            workdir: Path) -> dict:
    pcap = workdir / f"{plant.name}-{start:%m}.pcap"
    summary = simulate.write_pcap(pcap, packets=packets, seed=seed, start=start.timestamp(), risky=risky,
                                  cameras=cameras)
    for batch in pipeline.iter_batches([pcap], sensor=plant.serial, observer=Observer()):
        assert app.state.ingestor.ingest(plant.id, plant.sensor_id, wire.encode(batch)).status == "stored"
    return summary


def build_fleet(app, workdir: Path) -> list[Plant]:
    """Provision and ingest every plant; the provider's data team user gets an API token (returned
    as ``app.state.datateam_token``)."""
    plants = []
    for index, (name, seed, packets, risky, cameras) in enumerate(PLANTS):
        tenant = provision(app, name)
        plant = Plant(name, tenant.id, tenant.sensor_id, f"SN-{name}", {name, f"SN-{name}", tenant.email})
        span = packets / (simulate.CAMERA_SITE_PPS if cameras else simulate.NOMINAL_PPS)
        with app.state.controlplane.session() as db:  # learns on the normal first half
            db.get(Tenant, tenant.id).learning_hours = span * simulate.LEARN_FRACTION / 3600
        months = (JANUARY, FEBRUARY) if index < 4 else (JANUARY,)
        for start in months:
            summary = _ingest(app, plant, seed, packets // len(months) if start == FEBRUARY else packets, risky,
                              cameras, start, workdir)
            for device in summary["devices"]:
                plant.identifiers |= {device["name"], device["ip"], device["mac"]}
        extra = _camera_facts(index, JANUARY + timedelta(seconds=30)) + (
            _omron_facts(JANUARY + timedelta(seconds=40)) if name == LONE else [])
        batch = make_batch(flows=[], events=[], observations=extra, start=JANUARY)
        assert app.state.ingestor.ingest(plant.id, plant.sensor_id, wire.encode(batch)).status == "stored"
        plant.identifiers |= {r["mac"] for r in extra} | {r["value"] for r in extra
                                                           if r["attribute"] in ("hostname", "serial", "model")}
        with app.state.controlplane.session() as db:  # its latest health report, from January
            sensor = db.get(Sensor, plant.sensor_id)
            sensor.health = {"bytes_this_month": (index + 1) * 40_000_000, "monthly_budget_bytes": 1_000_000_000}
            sensor.health_at = JANUARY + timedelta(days=1)
        plants.append(plant)
    import_path(app.state.clickhouse, CSAF)
    with app.state.controlplane.sessions() as db:
        provider = accounts.create_tenant(db, "provider")
        user = accounts.create_user(db, provider, DATATEAM, PASSWORD, "datateam")
        app.state.datateam_token = accounts.create_api_token(db, user, "tests")[1]
    return plants
