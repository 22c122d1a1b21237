"""The corpus table through the whole detection at ingest (real app, chDB, core.detect.engine):
captures cut into batches by the real pipeline, moved to the present and posted to
/api/v1/ingest. An attack capture with no learning raises its kinds as alerts; a plain polling
capture learned on its first half raises nothing above ``info`` when the whole capture follows.
Prints the table (capture → alert kinds)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from coretest import T0, post_batch, provision
from test_rules_corpus import ATTACKS, POLLING

from core.detect import store
from core.detect.kinds import SEVERITIES
from core.store.controlplane import Tenant
from sensor import wire
from sensor.meter import pipeline

_names = itertools.count()
RULE_KINDS = frozenset({"plc_stop", "plc_start", "plc_program_change", "firmware_change", "cleartext_credentials",
                        "default_credentials", "smbv1", "internet_exposure", "remote_access", "scan"})
# polling captures whose second half only repeats the first: the same reads between the same devices
CYCLIC = ("ndpi/modbus.pcap", "iti/ModbusTCP/modbus_test.pcap",
          "ics-pcap/S7/S7-1511_db2_var1_HMI/S7-1511_db2_var1_HMI.pcap", "ics-pcap/DNP3/DNP3-Read/DNP3-Read.pcap", "ndpi/cip_io.pcap", "ndpi/ethernetIP.pcap", "ndpi/opc-ua.pcap",
          "iti/C37.118/C37.118_1PMU_TCP.pcap", "ndpi/profinet-io-le.pcap",
          "nttcom/CCLinkFieldBasic/Traces/cclink_ief_basic_only.pcap", "icsnpp/bacnet/traces/bacnet_example.pcap")
# merged from captures of 2004–2023: its flows start years before their batch, which the core refuses
UNINGESTIBLE = {"zeek/Traces/modbus/modbus-and-non-modbus-p502.pcap"}
AFTER_LEARNING = timedelta(hours=2)  # past a one-hour learning period


def moved(batch: wire.Batch, by: timedelta) -> wire.Batch:
    """The batch ``by`` later, under a new batch id (another minute of data, not a resend)."""
    shift = pa.scalar(by, pa.duration("us"))
    tables = {}
    for name, table in batch.tables.items():
        for i, field in enumerate(table.schema):
            if pa.types.is_timestamp(field.type):
                table = table.set_column(i, field, pc.add(table.column(i), shift).cast(field.type))
        tables[name] = table
    return replace(batch, interval_start=batch.interval_start + by, interval_end=batch.interval_end + by,
                   tables=tables, batch_id=str(uuid.uuid4()))


def batches(path: Path, parts: int) -> list[wire.Batch]:
    """The capture in about ``parts`` batches (one a minute at most), moved to follow one another
    from T0."""
    whole = list(pipeline.iter_batches([path], 60.0))
    first = min(pc.min(b.tables["flows"].column("ts")).as_py() for b in whole)
    last = max(pc.max(b.tables["flows"].column("ts_end")).as_py() for b in whole)
    interval = float(min(max(round((last - first).total_seconds() / parts), 1), 60))  # whole seconds
    step = timedelta(seconds=interval)  # packed one after the other: a capture may span years
    return [moved(b, T0 + i * step - b.interval_start) for i, b in enumerate(pipeline.iter_batches([path], interval))]


def alerts_after(client, path: Path, learn: bool, site_networks: str | None = None) -> list[dict]:
    """A new tenant's alerts for the capture: with ``learn``, its first half (of about four batches;
    at least one) inside a one-hour learning period, then the whole capture AFTER_LEARNING later;
    else the capture with no learning period."""
    tenant = provision(client.app, f"rules{next(_names)}")
    with client.app.state.controlplane.session() as db:
        db.get(Tenant, tenant.id).learning_hours = 1 if learn else 0
        db.get(Tenant, tenant.id).site_networks = site_networks
    cut = batches(path, 4)
    posted = [*cut[:max(1, len(cut) // 2)], *(moved(b, AFTER_LEARNING) for b in cut)] if learn else cut
    for batch in posted:
        r = post_batch(client, tenant.sensor_token, wire.encode(batch))
        assert r.status_code == 200, r.text
    return store.list_alerts(client.app.state.clickhouse, tenant.id, limit=1000)


def _row(alerts: list[dict]) -> dict[str, str]:
    worst: dict[str, str] = {}
    for a in alerts:
        worst[a["kind"]] = min(worst.get(a["kind"], "info"), a["severity"], key=SEVERITIES.index)
    return worst


def _print(title: str, table: dict[str, dict[str, str]]) -> None:
    print(f"\n{title}")
    for name, kinds in table.items():
        print(f"  {name:78s} {', '.join(f'{k} ({s})' for k, s in sorted(kinds.items())) or '—'}")


@pytest.mark.one_pass
def test_attack_captures_raise_their_alerts_through_the_engine(client, corpus):
    table = {name: _row(alerts_after(client, corpus / name, learn=False)) for name in ATTACKS
             if name not in UNINGESTIBLE}
    _print("capture → alerts through the engine (no learning)", table)
    for name, kinds in table.items():
        assert ATTACKS[name] <= set(kinds), name


@pytest.mark.one_pass
def test_plain_polling_learned_on_its_first_half_raises_nothing_above_info(client, corpus):
    table = {name: _row(alerts_after(client, corpus / name, learn=True)) for name in POLLING}
    _print("polling → alerts through the engine (learned on the first half)", table)
    # the rules' kinds stay quiet on all of them; the baseline's kinds too where the second half only
    # repeats the first (CYCLIC; in the others the second half shows devices, links or functions the
    # first did not, which the printed table names)
    assert not {k for kinds in table.values() for k, s in kinds.items() if k in RULE_KINDS and s != "info"}
    for name in CYCLIC:
        assert all(s == "info" for s in table[name].values()), (name, table[name])


def test_the_tenants_site_networks_decide_what_is_the_internet(client, corpus):
    """ntp.pcap's clients ask public NTP servers: the internet by default, the site when the
    tenant's networks include those servers."""
    path = corpus / "zeek/Traces/ntp/ntp.pcap"
    exposed = [a for a in alerts_after(client, path, learn=False) if a["kind"] == "internet_exposure"]
    assert exposed
    servers = ",".join(sorted({f"{a['dst']['ip']}/32" for a in exposed}))
    assert not [a for a in alerts_after(client, path, learn=False, site_networks=f"192.168.0.0/16,{servers}")
                if a["kind"] == "internet_exposure"]


@pytest.fixture(autouse=True)
def _present(clock):
    clock(T0 + timedelta(days=1))  # the core's clock: after every moved batch


def test_the_simulated_plant_raises_every_kind_through_the_engine(client, tmp_path):
    """The simulator's plant, learned on its normal first half: every kind but sensor_silent (the
    core's own watch) and new_flood (a plant's batches stay within the budget) is raised by the
    incidents of its second half."""
    from core.detect.indicators import import_file
    from core.detect.kinds import KINDS
    from sensor.meter.observe import Observer
    from sensor.simulate import INDICATOR_DOMAIN, LEARN_FRACTION, write_pcap

    summary = write_pcap(tmp_path / "plant.pcap", 40_000, seed=5, start=T0.timestamp())
    learned_until = T0 + timedelta(seconds=LEARN_FRACTION * (summary["end"] - summary["start"]))
    tenant = provision(client.app, f"rules{next(_names)}")
    with client.app.state.controlplane.session() as db:
        db.get(Tenant, tenant.id).learning_hours = 1
    (tmp_path / "feed.csv").write_text(f"type,value\ndomain,{INDICATOR_DOMAIN}\n")
    import_file(client.app.state.clickhouse, tmp_path / "feed.csv", tenant.id)
    client.app.state.detector.indicators.reload_s = 0
    for batch in pipeline.iter_batches([tmp_path / "plant.pcap"], 10.0, observer=Observer()):
        after = batch.interval_end > learned_until
        r = post_batch(client, tenant.sensor_token, wire.encode(moved(batch, AFTER_LEARNING) if after else batch))
        assert r.status_code == 200, r.text
    alerts = store.list_alerts(client.app.state.clickhouse, tenant.id, sort="ts", descending=False, limit=1000)
    print("\nsimulated plant → alerts through the engine (learned on its first half)")
    for a in alerts:
        print(f"  {a['ts']:%H:%M:%S} {a['kind']:22s} {a['severity']:9s} {a['src']['ip'] or a['src']['mac']:16s}"
              f" → {a['dst']['ip']:16s} {a['protocol']}")
    raised = _row(alerts)
    assert set(raised) == set(KINDS) - {"sensor_silent", "new_flood"}
