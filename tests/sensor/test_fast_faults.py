"""A compiled path's failure while making an interval's rows (a bug some input met) costs that interval's
events of its protocol, counted as dropped and as the decoder's fault — never the capture."""

from __future__ import annotations

from fastpaths import plant, run  # noqa: F401 (plant: a fixture)

from sensor.decode import spec
from sensor.meter import fast_modbus
from sensor.meter.fast_modbus import FastModbus
from sensor.meter.fast_s7comm import FastS7


def _broken(*args, **kwargs):
    raise KeyError("a status no table names")


def test_a_path_failing_to_make_its_rows_loses_only_its_protocols_events(plant, monkeypatch):
    whole = run(plant, True, True, monkeypatch)
    for path_class, method, protocol, few in ((FastS7, "_fields", "s7comm", fast_modbus.FEW_ROWS),
                                              (FastModbus, "_dicts", "modbus", fast_modbus.FEW_ROWS),
                                              (FastModbus, "_table", "modbus", 0)):
        with monkeypatch.context() as patched:
            patched.setattr(path_class, method, _broken)
            patched.setattr(fast_modbus, "FEW_ROWS", few)  # (0: the rows always a table)
            faults = spec.FAULTS[protocol]
            broken = run(plant, True, True, patched)
        assert spec.FAULTS[protocol] > faults
        lost = kept = 0
        for (events, *rest, dropped), (had, *had_rest, had_dropped) in zip(broken, whole, strict=True):
            assert [e for e in events if e["protocol"] != protocol] == [e for e in had if e["protocol"] != protocol]
            assert rest == had_rest
            lost += dropped - had_dropped
            kept += sum(e["count"] for e in events if e["protocol"] == protocol)  # its flows moved to Python
        assert lost > 0 and kept + lost == sum(e["count"] for events, *_ in whole for e in events
                                               if e["protocol"] == protocol), (protocol, kept, lost)
