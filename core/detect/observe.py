"""What batches show that the baseline knows or not: their devices, links, OT functions and device
attributes, each as a baseline key with the finding it raises when the key is unknown (or, for an
attribute, when its value changed).

A group of batches is worked out together, in Arrow: their tables are joined with each row's batch
as a column, and filtered, grouped and keyed in one pass, so a group of small batches costs about the
Arrow calls of one. A batch's groups come in the order of their first rows, which decides which uids
are an alert's evidence and which group of a repeated key stands: the same in a group as alone.
Python only hands each batch its sightings (per distinct pair, device or function, never per row); a
sighting's finding is built when asked for, which is rare: while a sensor learns none is, and after
it most keys are known.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.detect.kinds import Finding
from core.detect.site import Site, is_unicast_mac
from sensor import wire

MAX_EVIDENCE = 20
WHOLE_ROWS = 4096  # a table of sightings up to this size becomes Python whole when a finding is asked of it
OT_PROTOCOLS = frozenset((
    "ads", "bacnet", "cclink_ie", "cclink_ie_field_basic", "cclink_ie_tsn", "cip", "dnp3", "enip", "goose",
    "hart_ip", "iec104", "knxnet_ip", "mms", "modbus", "omron_fins", "opcua", "profinet", "profinet_io_cm",
    "s7comm", "s7comm_plus", "slmp", "umas"))
# attribute → the kind a change of it raises
WATCHED = {"model": "device_change", "product": "device_change", "hostname": "device_change",
           "os": "device_change", "role": "device_change", "firmware": "firmware_change",
           "revision": "firmware_change"}
FLOW_KEYS = ["orig_h", "resp_h", "orig_l2_addr", "resp_l2_addr", "proto", "resp_p", "ethertype", "service"]


class Sighting:
    """A baseline entry a batch shows; ``finding`` is what it raises if new (or changed), built when
    asked. ``ts``: the data time of an attribute's value (the latest value of a batch is kept)."""

    __slots__ = ("kind", "key", "value", "ts", "_rows", "_row")

    def __init__(self, kind: str, key: str, value: str, rows: _Rows, row: int, ts: int = 0):
        self.kind, self.key, self.value, self.ts = kind, key, value, ts
        self._rows, self._row = rows, row

    @property
    def finding(self) -> Finding:
        return self._rows.finding(self._row)

    @property
    def uid(self) -> str:
        """A uid of what shows it ("" if none: an attribute's observation), read without building the finding."""
        return self._rows.uid(self._row)


class _Rows:
    """An Arrow table of one kind's sightings whose findings are built from its columns, converted to
    Python lists the first time one is asked for."""

    def __init__(self, table: pa.Table, build):
        self.table, self._build, self._columns = table, build, None

    def uid(self, row: int) -> str:
        names = self.table.column_names
        if "uids" in names:  # a device's
            return next((u for u in self.table["uids"][row].as_py() if u), "")
        return (self.table["uid"][row].as_py() or "") if "uid" in names else ""

    def finding(self, row: int) -> Finding:
        if self.table.num_rows > WHOLE_ROWS:  # a flood's table: only the rows its budget lets through
            return self._build({name: _python(self.table[name].slice(row, 1))[0] for name in self.table.column_names})
        if self._columns is None:
            self._columns = {name: _python(self.table[name]) for name in self.table.column_names}
        return self._build({name: values[row] for name, values in self._columns.items()})


def sightings(batches: list[wire.Batch], sites: list[Site]) -> list[list[Sighting]]:
    """Per batch (each with its tenant's site), what it shows: its links, attribute values, OT
    functions, then devices, in the order of the batch's own groups (``_grouped``) and rows."""
    flows = joined(batches, "flows")
    observations = joined(batches, "observations")
    events = joined(batches, "events")
    places = _Places(sites)
    groups = _flow_groups(flows, places)
    owners = _observed(observations)
    sections = [_links(groups), _attributes(observations, places), _functions(events),
                _devices(groups, owners, places)]
    out: list[list[Sighting]] = [[] for _ in batches]
    for kind, rows, columns in sections:
        values = columns.get("value") or [""] * len(columns["b"])
        times = columns.get("ts") or [0] * len(columns["b"])
        for row, (b, key, value, ts) in enumerate(zip(columns["b"], columns["key"], values, times)):
            out[b].append(Sighting(kind, key, value, rows, row, ts))
    return out


def joined(batches: list[wire.Batch], name: str) -> pa.Table:
    """The batches' ``name`` tables as one, with each row's batch (its index) in column ``b``."""
    tables = [batch.tables[name] for batch in batches]
    sizes = [t.num_rows for t in tables]
    joined = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    return joined.append_column("b", pa.array(np.repeat(np.arange(len(tables), dtype=np.int32), sizes)))


def _grouped(table: pa.Table, keys: list[str], aggregations: list[tuple[str, str]], names: list[str]) -> pa.Table:
    """``table`` (a joined one, its rows in batch order) grouped by ``keys`` within each batch, its columns
    named ``b``, ``keys`` and ``names`` (one per aggregation): one grouping for every batch, each batch's
    groups in the order of their first rows (Arrow's own order is its hash table's, which the other
    batches' keys, or one more key column, change)."""
    rows = pa.array(np.arange(table.num_rows, dtype=np.int64))
    out = table.append_column("row", rows).group_by(["b", *keys], use_threads=False).aggregate(
        [*aggregations, ("row", "min")])
    first = out.column(out.num_columns - 1)
    return out.drop_columns(out.column_names[-1]).take(pc.sort_indices(first)).rename_columns(["b", *keys, *names])


def _python(column: pa.ChunkedArray) -> list:
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.int64())
    return column.to_pylist()


class _Places:
    """Which addresses are site devices, per batch: worked out once per distinct address and set of
    site networks."""

    def __init__(self, sites: list[Site]):
        self.sites = sites
        self.networks: dict = {}
        for b, site in enumerate(sites):
            self.networks.setdefault(site.networks, (site, []))[1].append(b)

    def site_ips(self, ips: pa.ChunkedArray, b: pa.ChunkedArray) -> pa.ChunkedArray:
        """The addresses that are devices of their batch's site, "" for the others."""
        on_site = None
        for site, members in self.networks.values():
            # only the addresses of this site's own batches: one batch's many addresses are never
            # checked against every other site of the group
            mine = pc.is_in(b, pa.array(members, pa.int32())) if len(self.networks) > 1 else None
            distinct = pc.unique(ips if mine is None else ips.filter(mine)).to_pylist()
            ok = pc.is_in(ips, pa.array(site.site_addresses(distinct), pa.string()))
            if mine is not None:
                ok = pc.and_(ok, mine)
            on_site = ok if on_site is None else pc.or_(on_site, ok)
        return pc.if_else(on_site, ips, "")


def _unicast(macs: pa.ChunkedArray) -> pa.ChunkedArray:
    """Station MACs as they are, "" for the others."""
    ok = [mac for mac in pc.unique(macs).to_pylist() if is_unicast_mac(mac)]
    return pc.if_else(pc.is_in(macs, pa.array(ok, pa.string())), macs, "")


def _micros(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return column.cast(pa.int64())


def _flow_groups(flows: pa.Table, places: _Places) -> pa.Table:
    """One row per batch and distinct flow key (FLOW_KEYS): first ts, last ts_end, first uid, rows,
    whether any was answered; with the ends' station MACs and site addresses (``*_mac``, ``*_ip``;
    "" if not)."""
    # a link is a service that answered: a refused or unanswered probe is the scan rule's matter
    answered = pc.and_(pc.greater(flows["resp_pkts"], 0), pc.not_equal(flows["conn_state"], "REJ"))
    groups = _grouped(flows.append_column("answered", answered), FLOW_KEYS,
                      [("ts", "min"), ("ts_end", "max"), ("uid", "first"), ("uid", "count"), ("answered", "any")],
                      ["ts", "ts_last", "uid", "n", "answered"])
    for side in ("orig", "resp"):
        groups = groups.append_column(f"{side}_mac", _unicast(groups[f"{side}_l2_addr"]))
        groups = groups.append_column(f"{side}_ip", places.site_ips(groups[f"{side}_h"], groups["b"]))
    return groups


def _observed(observations: pa.Table) -> pa.Table:
    """One row per batch and distinct (mac, ip) of the observations: first and last ts."""
    return _grouped(observations, ["mac", "ip"], [("ts", "min"), ("ts", "max")], ["ts", "ts_last"])


def _links(groups: pa.Table) -> tuple[str, _Rows, dict]:
    """Answered flow groups between two site devices (IP) or two stations (a layer-2 flow)."""
    ip_flow = pc.or_(pc.not_equal(groups["orig_h"], ""), pc.not_equal(groups["resp_h"], ""))
    both_ips = pc.and_(pc.not_equal(groups["orig_ip"], ""), pc.not_equal(groups["resp_ip"], ""))
    both_macs = pc.and_(pc.not_equal(groups["orig_mac"], ""), pc.not_equal(groups["resp_mac"], ""))
    links = groups.filter(pc.and_(groups["answered"], pc.if_else(ip_flow, both_ips, both_macs)))
    ip_flow = pc.or_(pc.not_equal(links["orig_h"], ""), pc.not_equal(links["resp_h"], ""))
    ethertypes = pc.unique(links["ethertype"])
    layer2 = pc.take(pa.array([f"l2/0x{e:04x}" for e in ethertypes.to_pylist()], pa.string()),
                     pc.index_in(links["ethertype"], ethertypes))
    port = pc.binary_join_element_wise(links["proto"], pc.cast(links["resp_p"], pa.string()), "/")
    service = pc.if_else(pc.not_equal(links["service"], ""), links["service"], pc.if_else(ip_flow, port, layer2))
    orig = pc.if_else(ip_flow, links["orig_h"], links["orig_l2_addr"])
    resp = pc.if_else(ip_flow, links["resp_h"], links["resp_l2_addr"])
    key = pc.binary_join_element_wise(pc.binary_join_element_wise(orig, resp, ">"), service, "|")
    links = links.select(["b", "orig_h", "resp_h", "orig_l2_addr", "resp_l2_addr", "resp_p", "ts", "ts_last",
                          "uid", "n"]).append_column("key", key).append_column("service", service)
    return "link", _Rows(links, _link), {"b": links["b"].to_pylist(), "key": key.to_pylist()}


def _link(g: dict) -> Finding:
    return Finding(
        "new_link", g["key"], g["ts"], g["ts_last"], g["n"], src_ip=g["orig_h"], src_mac=g["orig_l2_addr"],
        dst_ip=g["resp_h"], dst_mac=g["resp_l2_addr"], protocol=g["service"],
        details=(("service", g["service"]), ("port", str(g["resp_p"]))), evidence=(g["uid"],) if g["uid"] else ())


def _attributes(observations: pa.Table, places: _Places) -> tuple[str, _Rows, dict]:
    """Each observed value of a watched attribute, keyed by device (its MAC if a station's, else its
    address), attribute and source."""
    watched = observations.filter(pc.and_(pc.is_in(observations["attribute"], pa.array(sorted(WATCHED))),
                                          pc.not_equal(observations["value"], "")))
    mac = _unicast(watched["mac"])
    device = pc.if_else(pc.not_equal(mac, ""), watched["mac"], watched["ip"])
    key = pc.binary_join_element_wise(device, watched["attribute"], watched["source"], "|")
    table = pa.table({"b": watched["b"], "key": key, "value": watched["value"], "ts": _micros(watched["ts"]),
                      "attribute": watched["attribute"], "source": watched["source"], "src_mac": mac,
                      "src_ip": places.site_ips(watched["ip"], watched["b"])})
    columns = {name: table[name].to_pylist() for name in ("b", "key", "value", "ts")}
    return "attribute", _Rows(table, _attribute), columns


def _attribute(o: dict) -> Finding:
    return Finding(
        WATCHED[o["attribute"]], o["key"], o["ts"], o["ts"], src_ip=o["src_ip"], src_mac=o["src_mac"],
        protocol=o["source"],
        details=(("attribute", o["attribute"]), ("value", o["value"]), ("source", o["source"])))


def _functions(events: pa.Table) -> tuple[str, _Rows, dict]:
    """The OT functions each pair used (per responder port, the first of a key standing)."""
    ot = events.filter(pc.is_in(events["protocol"], pa.array(sorted(OT_PROTOCOLS))))
    grouped = _grouped(ot, ["orig_h", "resp_h", "resp_p", "protocol", "action"],
                       [("ts", "min"), ("ts_end", "max"), ("uid", "first"), ("count", "sum")],
                       ["ts", "ts_last", "uid", "n"])
    pair = pc.binary_join_element_wise(grouped["orig_h"], grouped["resp_h"], ">")
    key = pc.binary_join_element_wise(pair, grouped["protocol"], grouped["action"], "|")
    grouped = grouped.append_column("key", key)
    return "function", _Rows(grouped, _function), {"b": grouped["b"].to_pylist(), "key": key.to_pylist()}


def _function(g: dict) -> Finding:
    return Finding("new_ot_function", g["key"], g["ts"], g["ts_last"], g["n"], src_ip=g["orig_h"],
                   dst_ip=g["resp_h"], protocol=g["protocol"], details=(("function", g["action"]),),
                   evidence=(g["uid"],) if g["uid"] else ())


def _devices(groups: pa.Table, owners: pa.Table, places: _Places) -> tuple[str, _Rows, dict]:
    """The devices each batch shows — a station MAC, a site address — in the order it shows them
    first: each flow group's originator then responder, then the observations' (mac, ip) pairs
    (which count no rows). Per device: first ts, last ts_last, rows, the first address and MAC seen
    with it, the first MAX_EVIDENCE distinct uids; its value is the MAC an address came from first
    in the batch (a new IP of a new MAC is one device, shown by its MAC)."""
    n = groups.num_rows
    order = np.arange(n, dtype=np.int64) * 2
    sides = []
    for side, seq in (("orig", order), ("resp", order + 1)):
        sides.append(pa.table({
            "b": groups["b"], "mac": groups[f"{side}_mac"], "ip": groups[f"{side}_ip"], "ts": _micros(groups["ts"]),
            "ts_last": _micros(groups["ts_last"]), "uid": groups["uid"], "n": pa.repeat(pa.scalar(1, pa.int64()), n),
            "seq": pa.array(seq)}))
    m = owners.num_rows
    sides.append(pa.table({
        "b": owners["b"], "mac": _unicast(owners["mac"]), "ip": places.site_ips(owners["ip"], owners["b"]),
        "ts": _micros(owners["ts"]), "ts_last": _micros(owners["ts_last"]), "uid": pa.nulls(m, pa.string()),
        "n": pa.repeat(pa.scalar(0, pa.int64()), m), "seq": pa.array(2 * n + np.arange(m, dtype=np.int64))}))
    seen = pa.concat_tables(sides)
    # one row per key a sighting names: its MAC first, then its address
    null = pa.scalar(None, pa.string())
    by_key = []
    for name, offset in (("mac", 0), ("ip", 1)):
        named = seen.filter(pc.not_equal(seen[name], ""))
        by_key.append(pa.table({
            "b": named["b"], "key": named[name], "ts": named["ts"], "ts_last": named["ts_last"], "n": named["n"],
            "ip": pc.if_else(pc.equal(named["ip"], ""), null, named["ip"]),
            "mac": pc.if_else(pc.equal(named["mac"], ""), null, named["mac"]),
            "uid": pc.if_else(pc.equal(named["uid"], ""), null, named["uid"]),
            "pos": pc.add(pc.multiply(named["seq"], 2), offset)}))
    keyed = pa.concat_tables(by_key).sort_by("pos")
    devices = keyed.group_by(["b", "key"], use_threads=False).aggregate(
        [("ts", "min"), ("ts_last", "max"), ("n", "sum"), ("ip", "first"), ("mac", "first"), ("uid", "list"),
         ("pos", "min")])
    devices = devices.rename_columns(["b", "key", "ts", "ts_last", "n", "ip", "mac", "uids", "pos"])
    devices = devices.sort_by([("b", "ascending"), ("pos", "ascending")])
    b, key, mac = devices["b"].to_pylist(), devices["key"].to_pylist(), devices["mac"].to_pylist()
    # an address's first MAC is the device it came from; a MAC's own first MAC is itself
    return "device", _Rows(devices, _device), {"b": b, "key": key,
                                               "value": [m if m and m != k else "" for k, m in zip(key, mac)]}


def _device(d: dict) -> Finding:
    evidence = list(dict.fromkeys(u for u in d["uids"] if u))[:MAX_EVIDENCE]
    return Finding("new_device", d["key"], d["ts"], d["ts_last"], d["n"], src_ip=d["ip"] or "",
                   src_mac=d["mac"] or "", evidence=tuple(evidence))
