"""The scan rule's protocol sweeps at their thresholds, on hand-made batches (neither the corpus nor
the simulated plant holds a Modbus unit-id scan or an identity sweep): at the threshold a scan,
one below nothing; the evidence is the probing flows."""

from __future__ import annotations

from datetime import timedelta

from coretest import T0, flow, make_batch

from core.detect.rules import scan
from core.detect.site import Site

SCANNER = "10.0.0.66"


def _event(i: int, resp_h: str, protocol: str, action: str, **attrs) -> dict:
    return dict(ts=T0 + timedelta(seconds=i % 50), ts_end=T0 + timedelta(seconds=i % 50), count=1,
                uid=f"C{SCANNER}{resp_h}", orig_h=SCANNER, resp_h=resp_h, resp_p=502, protocol=protocol,
                action=action, status="OK", attrs=attrs)


def _found(events: list[dict], targets: set[str]):
    flows = [flow(orig_h=SCANNER, resp_h=t, uid=f"C{SCANNER}{t}") for t in sorted(targets)]
    return scan.rules(make_batch(flows, events, []), Site())


def test_a_modbus_unit_id_scan():
    units = [_event(i, "10.0.0.2", "modbus", "READ_HOLDING_REGISTERS", unit=str(i))
             for i in range(1, 1 + scan.MODBUS_UNITS)]
    [found] = _found(units, {"10.0.0.2"})
    assert (found.kind, found.key, found.src_ip, found.dst_ip) == ("scan", f"modbus_units:{SCANNER}>10.0.0.2",
                                                                  SCANNER, "10.0.0.2")
    assert ("units", str(scan.MODBUS_UNITS)) in found.details and found.evidence == (f"C{SCANNER}10.0.0.2",)
    assert _found(units[:-1], {"10.0.0.2"}) == []  # a gateway's few dozen slaves


def test_an_identity_sweep():
    hosts = {f"10.0.0.{n}" for n in range(10, 10 + scan.IDENTITY_HOSTS)}
    asks = [_event(i, host, "enip", "List Identity") for i, host in enumerate(sorted(hosts))]
    [found] = _found(asks, hosts)
    assert found.key == f"identity:{SCANNER}" and ("hosts", str(scan.IDENTITY_HOSTS)) in found.details
    assert set(found.evidence) == {f"C{SCANNER}{h}" for h in hosts}
    s7 = [_event(i, host, "s7comm", "Read SZL", szl_id="0x0011") for i, host in enumerate(sorted(hosts))]
    assert [f.key for f in _found(s7, hosts)] == [f"identity:{SCANNER}"]
    assert _found(asks[:-1], hosts) == []  # engineering software asking its project's few PLCs
