"""What an operator reads before switching active identification on (`mieruka-sensor active-id
--list`): the settings in one line, every request each switched-on protocol may send (bytes in hex,
then their meaning), and, given a capture, the exact requests for each device it shows with
whether it would be asked now."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from sensor.active.policy import PROBES, Identifier
from sensor.active.requestlog import RequestLog
from sensor.active.settings import ActiveSettings
from sensor.active.targets import DEFAULT_PORTS, UDP_ONLY, Target
from sensor.meter import pipeline
from sensor.meter.observe import Observer

MODE_TEXT = {"off": "off: nothing is sent", "dry-run": "dry run: requests are logged, never sent",
             "on": "on: requests are sent"}


def summary(s: ActiveSettings) -> str:
    return (f"active identification {MODE_TEXT[s.mode]}; protocols {', '.join(s.protocols) or 'none'}; "
            f"site networks {', '.join(s.networks) or 'none'}; excluded {', '.join(s.exclude) or 'none'}; "
            f"at most one request per device and protocol every {s.interval_hours:g} h, and at most "
            f"{s.max_rate:g} per second in all; {s.timeout_s:g} s to answer; log {s.log}")


def tally(s: ActiveSettings) -> str:
    """What the request log holds: requests sent (or, dry run, not sent), their outcomes, the last."""
    entries = RequestLog(Path(s.log)).entries()
    requests = [e for e in entries if e.get("event") == "request"]
    if not requests:
        return "no request logged"
    sent = sum(1 for e in requests if not e.get("dry_run"))
    outcomes = Counter(str(e.get("status")) for e in entries if e.get("event") == "result")
    told = ", ".join(f"{status} {n}" for status, n in sorted(outcomes.items()))
    return (f"{sent} requests sent, {len(requests) - sent} logged in dry run; last {requests[-1].get('time', '?')} "
            f"to {requests[-1].get('device', '?')} ({requests[-1].get('protocol', '?')})" + (f"; {told}" if told else ""))


def _messages(target: Target, s: ActiveSettings) -> Iterator[str]:
    probe = PROBES[target.protocol]
    for n, message in enumerate(probe.messages(target, s), 1):
        yield f"    {n}. {message.data.hex()}"
        yield f"       {message.meaning}"


def requests(s: ActiveSettings, captures: list[Path]) -> Iterator[str]:
    """The lines of the review: per protocol, or per device seen in ``captures``."""
    if not captures:
        for name in s.protocols:
            transport = "udp" if name in UDP_ONLY else "tcp"
            example = Target("<device>", name, transport, DEFAULT_PORTS[name])
            unit = "; Modbus unit 1 here, on site the unit its clients use" if name == "modbus" else ""
            yield f"{name} ({PROBES[name].action}) to {transport.upper()} port {DEFAULT_PORTS[name]} " \
                  f"or the port the device was seen serving{unit}"
            yield from _messages(example, s)
        return
    with tempfile.TemporaryDirectory() as tmp:  # review only: the site's request log is not read
        identifier = Identifier(replace(s, log=str(Path(tmp) / "review.jsonl")))
    for batch in pipeline.iter_batches(captures, observer=Observer()):
        identifier.learn(batch)
    plan = identifier.plan()
    if not plan:
        yield "no device in the capture was seen serving enip, s7comm, modbus, bacnet or snmp"
    for target, decision, _ in plan:
        yield f"{target.ip} {target.protocol} {target.transport.upper()} {target.port}: {decision}"
        if target.protocol in s.protocols:
            yield from _messages(target, s)
