"""The stateless rules on the simulated plant through the real pipeline (sensor.meter.pipeline):
each incident the simulator reports raises its kinds by the right devices at the right time with
evidence from the same batch; the learning half and a plant without incidents raise nothing above
``info``."""

from __future__ import annotations

import pytest

from core.detect.kinds import Finding
from core.detect.rules import credentials, exposure, plc, remote, scan, smb
from core.detect.site import Site
from sensor.meter import pipeline
from sensor.meter.observe import Observer
from sensor.simulate import LEARN_FRACTION, write_pcap

pytestmark = pytest.mark.no_controlplane  # nothing here uses one: left out of the PostgreSQL pass

FAMILIES = (plc, credentials, smb, exposure, remote, scan)
MINE = frozenset({"plc_stop", "plc_start", "plc_program_change", "firmware_change", "cleartext_credentials",
                  "default_credentials", "smbv1", "internet_exposure", "remote_access", "scan"})
US = 1_000_000


def findings(path) -> list[tuple[Finding, frozenset[str]]]:
    """Every finding with the flow uids of the batch it came from."""
    out = []
    for batch in pipeline.iter_batches([path], 60.0, observer=Observer()):
        uids = frozenset(batch.tables["flows"].column("uid").to_pylist())
        out += [(f, uids) for family in FAMILIES for f in family.rules(batch, Site())]
    return out


@pytest.fixture(scope="module")
def plant(tmp_path_factory):
    path = tmp_path_factory.mktemp("plant") / "plant.pcap"
    summary = write_pcap(path, 40_000, seed=5)
    return summary, findings(path)


def test_every_incident_raises_its_kinds_by_its_devices(plant):
    summary, found = plant
    laptop_mac = next(d["mac"] for d in summary["devices"] if d["role"] == "unknown")
    table = []
    for incident in summary["incidents"]:
        at = incident["ts"] * US
        for kind in sorted(MINE & set(incident["kinds"])):
            # by the incident's devices (the laptop's ARP sweep: its MAC and the address it announced)
            who = (lambda f: (f.src_mac, f.src_ip) == (laptop_mac, incident["src"])) if not incident["dst"] else \
                (lambda f: (f.src_ip, f.dst_ip) == (incident["src"], incident["dst"]))
            match = [(f, uids) for f, uids in found if f.kind == kind and at <= f.ts < at + 60 * US and who(f)]
            assert match, (incident, kind)
            for f, uids in match:
                assert f.evidence and set(f.evidence) <= uids and f.ts <= f.ts_last
            table.append((incident["incident"], kind, match[0][0].effective_severity()))
    print("\nincident → kind (severity)")
    for incident, kind, severity in table:
        print(f"  {incident:24s} {kind:22s} {severity}")
    assert {kind for _, kind, _ in table} == MINE


def test_severities_say_where_it_came_from(plant):
    summary, found = plant
    by = {(f.kind, f.src_ip, f.dst_ip): f.effective_severity() for f, _ in found}
    ip = {i["incident"]: (i["src"], i["dst"]) for i in summary["incidents"]}
    assert by[("internet_exposure", *ip["outbound"])] == "high"
    assert by[("internet_exposure", *ip["inbound"])] == "critical"
    assert by[("internet_exposure", *ip["rdp_from_outside"])] == "critical"
    assert by[("remote_access", *ip["rdp_from_outside"])] == "high"
    assert by[("remote_access", *ip["telnet_login"])] == "medium"
    assert by[("plc_stop", *ip["s7_maintenance"])] == "critical"
    assert by[("default_credentials", *ip["camera_default_login"])] == "high"


def test_the_learning_half_raises_nothing_above_info(plant):
    summary, found = plant
    learned_until = (summary["start"] + LEARN_FRACTION * (summary["end"] - summary["start"])) * US
    early = [f for f, _ in found if f.ts < learned_until]
    assert all(f.effective_severity() == "info" for f in early), early


def test_a_plant_without_incidents_raises_nothing_above_info(tmp_path):
    write_pcap(tmp_path / "safe.pcap", 20_000, seed=5, risky=False)
    found = [f for f, _ in findings(tmp_path / "safe.pcap")]
    assert all(f.effective_severity() == "info" for f in found), found
