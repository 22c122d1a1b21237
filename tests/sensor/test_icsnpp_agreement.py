"""Our OT events against the ICSNPP and Zeek protocol logs shipped in the corpus.

Every BASELINE_MAP row whose baseline is one of the protocol logs in SPECS is checked: the trace runs
through the pipeline and each log row must be matched by one of our events on the same connection
(originator and responder address and port, found through the event's uid and our flow record, so
uids need not agree) whose fields agree with the row. An event offers a request view (at its time),
a response view (at its time plus its round-trip time) and a transaction view, each usable by one
row; rows are paired with the nearest view in time, or in order where the log masks timestamps (or, like
profinet_io_cm.log, lacks them).
Per protocol the table shows matched/rows; each must reach MIN_RATE. The conn.logs of the same
tests check the ``service`` we give each connection (row "service").

Documented differences in what is compared (not exclusions of rows):
- DNP3: Zeek closes its record with whatever response comes next, so it pairs a CONFIRM (or any
  unanswered request) with the next unsolicited response; we answer only solicited responses (same
  application sequence number). For unsolicited rows the request column is not compared.
- Omron FINS: ICSNPP prints the program-area command codes 0x0304-0x0308 as 0x0301-0x0305 (with the
  right names); the test maps them back to the codes on the wire.
- BACnet: Reject and Abort rows name no service (``reject``/``abort``); we keep the service of the
  request they answer, so only the PDU type, invoke id and reason are compared. Vendor names are not
  compared: we report the numeric vendor id (no BACnet vendor table is shipped).
- PROFINET IO-CM: ICSNPP prints the UUIDs of a little-endian header in wire byte order and splits
  the interface version's 32 bits the other way round from DCE (major in the high half); the test
  maps both to DCE's reading. A device often answers from another port: the answer is then a
  separate connection in both logs, and our event for it a response alone.
Rows not checked, with the reason, are counted in the table's "skipped" column: S7comm-plus
notifications, BACnet segment ACKs and HART-IP keep-alives, PROFINET IO-CM pings, fragment acks and other RPC flow control (not actions) and
cip_io.log (cyclic I/O is summarised by the flow record, not logged per packet).
"""

from __future__ import annotations

import bisect
import csv
import itertools
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sensor.decode import modbus
from sensor.meter.pipeline import iter_intervals

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
MIN_RATE = 0.95
TS_TOLERANCE = 1.0  # seconds between a log row and our view of the same PDU
ID = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p")
PEERS = ("is_orig", "source_h", "source_p", "destination_h", "destination_p")


@dataclass
class View:
    side: str  # "req", "resp", "txn", or an object-list side
    ts: float
    fields: dict[str, str]
    used: bool = False


@dataclass(frozen=True)
class Spec:
    protocol: str  # row of the table
    event_protocols: frozenset[str]
    expect: Callable[[dict], tuple[tuple[str, ...], dict[str, str]] | None]  # row → (sides, fields); None: skip
    views: Callable[[dict], list[View]]
    columns: tuple[str, ...] | None = None  # for logs written without a #fields header


# -- views of our events ------------------------------------------------------------------------


def _times(event: dict) -> tuple[float, float, bool, bool]:
    """(request time, response time, has a request, has a response)."""
    attrs = event["attrs"]
    ts = event["ts"].timestamp()
    rtt = float(attrs.get("rtt", 0.0))
    answered = bool(event["status"]) or "reply" in attrs
    return ts, ts + rtt, "rtt" in attrs or not answered, answered


def _views(event: dict, request: dict, response: dict) -> list[View]:
    ts, resp_ts, has_req, has_resp = _times(event)
    views = [View("txn", ts, {**request, **response})]
    if has_req:
        views.append(View("req", ts, request))
    if has_resp:
        views.append(View("resp", resp_ts, response))
    return views


def _pick(event: dict, *names: str) -> dict[str, str]:
    return {name: event["attrs"][name] for name in names if name in event["attrs"]}


# -- Modbus -------------------------------------------------------------------------------------


def modbus_views(event: dict) -> list[View]:
    status, action = event["status"], event["action"]
    exception = status not in ("", "OK")
    ids = _pick(event, "tid", "unit")
    request = {"func": action, **ids, **_pick(event, "address", "quantity")}
    # Zeek's build_func names an exception response "<function>_EXCEPTION", or "unknown-<code | 0x80>"
    func = action
    if exception:
        func = f"unknown-{int(action[8:]) | 0x80}" if action.startswith("unknown-") else action + "_EXCEPTION"
    response = {"func": func, **ids}
    failure = {"exception": status} if exception else {}
    views = _views(event, request, {**response, **failure})
    views[0].fields = {**request, **failure}  # modbus_detailed names the request's function
    return views


QUANTITY_FUNCTIONS = {"READ_COILS", "READ_DISCRETE_INPUTS", "READ_HOLDING_REGISTERS", "READ_INPUT_REGISTERS",
                      "WRITE_SINGLE_COIL", "WRITE_SINGLE_REGISTER", "WRITE_MULTIPLE_COILS",
                      "WRITE_MULTIPLE_REGISTERS"}


def _modern_func(func: str) -> str:
    """Old Bro did not name functions 0x29, 0x2B, 0x5A and 0x5B; today's Zeek (and we) do."""
    if func.startswith("unknown-"):
        return modbus.function_name(int(func[8:]))
    return func


def _set(row: dict, want: dict, ours: str, theirs: str) -> None:
    if row.get(theirs, "-") not in ("-", ""):
        want[ours] = row[theirs]


def modbus_expect(row: dict):
    if row.get("duplicate"):
        return None
    want = {"func": _modern_func(row["func"])}
    for name in ("tid", "unit"):
        _set(row, want, name, name)
    _set(row, want, "exception", "exception")
    _set(row, want, "exception", "exception_code")
    if "matched" in row:  # modbus_detailed: one row per transaction, two for an unmatched pair
        _set(row, want, "address", "address")
        if row["func"] in QUANTITY_FUNCTIONS:
            _set(row, want, "quantity", "quantity")
        if row["matched"] == "T":
            return ("txn",), want
        want.pop("exception", None)
        return ("req", "resp"), want
    sides = {"REQ": ("req",), "RESP": ("resp",)}.get(row.get("pdu_type", ""), ("req", "resp"))
    return sides, want


# -- DNP3 ---------------------------------------------------------------------------------------

RESPONSES = {"RESPONSE", "UNSOLICITED_RESPONSE", "AUTHENTICATE_RESP"}
# ICSNPP object names of the groups/variations in the corpus logs
DNP3_OBJECTS = {
    "Class 0 Data": "g60v1", "Class 1 Data": "g60v2", "Class 2 Data": "g60v3", "Class 3 Data": "g60v4",
    "Binary Input With Status": "g1v2", "Binary Output Status": "g10v2", "16-Bit Analog Input": "g30v2",
    "16-Bit Analog Output Status": "g40v2", "Control Relay Output Block": "g12v1",
}


def dnp3_views(event: dict) -> list[View]:
    action = event["action"]
    fields = {"fc_request": "-" if action in RESPONSES else action, "fc_reply": event["attrs"].get("reply", "-"),
              "iin": event["attrs"].get("iin", "-")}
    return _views(event, fields, fields)


def dnp3_expect(row: dict):
    want = {"fc_reply": row["fc_reply"], "iin": row["iin"]}
    if row["fc_reply"] != "UNSOLICITED_RESPONSE":
        want["fc_request"] = row["fc_request"]
    return ("txn",), {k: v for k, v in want.items() if v != "-"}


def dnp3_object_views(event: dict) -> list[View]:
    ts, resp_ts, _, _ = _times(event)
    attrs = event["attrs"]
    views = []
    for side, when, function, objects in (("objects-req", ts, event["action"], attrs.get("objects", "")),
                                          ("objects-resp", resp_ts, attrs.get("reply", ""), attrs.get("reply_objects", ""))):
        views += [View(side, when, {"function_code": function, "object": label})
                  for label in objects.split(",") if label]
    return views


def dnp3_object_expect(row: dict):
    label = DNP3_OBJECTS.get(row["object_type"], row["object_type"])
    if row["range_low"] != "-":
        label += f"[{row['range_low']}-{row['range_high']}]"
    return ("objects-req" if row["is_orig"] == "T" else "objects-resp",), {
        "function_code": row["function_code"], "object": label}


# -- S7comm -------------------------------------------------------------------------------------


def s7_views(event: dict) -> list[View]:
    request = {"action": event["action"], **_pick(event, "group", "pi_service", "szl_id", "filename")}
    response = {"action": event["action"], "status": event["status"], **_pick(event, "group", "szl_id")}
    return _views(event, request, response)


def _side(row: dict) -> tuple[str, ...]:
    return ("req",) if row["is_orig"] == "T" else ("resp",)


def s7_expect(row: dict):
    want: dict[str, str] = {}
    if row["rosctr_name"] == "User-Data":  # function "Request: CPU Functions", sub-function "Read SZL"
        want["group"] = row["function_name"].split(": ", 1)[1]
        want["action"] = row["subfunction_name"]
    else:
        want["action"] = row["function_name"]
        _set(row, want, "pi_service", "subfunction_code")
    if row["error_class"] != "-":
        want["status"] = "OK" if row["error_class"] == "No error" else row["error_class"]
        want.pop("pi_service", None)
    return _side(row), want


def s7plus_expect(row: dict):
    if row["opcode_name"] == "Notification":
        return None
    return ("req",) if row["opcode_name"] == "Request" else ("resp",), {"action": row["function_name"]}


def s7_szl_expect(row: dict):
    return ("req",) if row["method"] == "Request" else ("resp",), {"action": "Read SZL", "szl_id": row["szl_id"]}


def s7_block_expect(row: dict):
    want = {"action": row["function_name"]}
    _set(row, want, "filename", "filename")
    return _side(row), want


# -- EtherNet/IP and CIP ------------------------------------------------------------------------

ENIP_COLUMNS = ID + PEERS + ("enip_command_code", "enip_command", "length", "session_handle", "enip_status",
                             "sender_context", "options")
CIP_COLUMNS = ID + PEERS + ("cip_sequence_count", "direction", "cip_service_code", "cip_service", "cip_status_code",
                            "cip_status", "cip_extended_status_code", "cip_extended_status", "class_id",
                            "class_name", "instance_id", "attribute_id")
CIP_IDENTITY_COLUMNS = ID + PEERS + ("encapsulation_version", "socket_address", "socket_port", "vendor_id",
                                     "vendor_name", "device_type_id", "device_type_name", "product_code",
                                     "revision", "device_status", "serial_number", "product_name", "device_state")
IDENTITY_FIELDS = {"vendor_id": "vendor_id", "vendor": "vendor_name", "device_type_id": "device_type_id",
                   "device_type": "device_type_name", "product_code": "product_code", "revision": "revision",
                   "serial": "serial_number", "product_name": "product_name", "socket_address": "socket_address",
                   "device_status": "device_status"}


def enip_views(event: dict) -> list[View]:
    command = event["attrs"].get("enip_command", event["action"])
    return _views(event, {"enip_command": command}, {"enip_command": command})


def enip_expect(row: dict):
    return _side(row), {"enip_command": row["enip_command"]}


def cip_views(event: dict) -> list[View]:
    status = "Success" if event["status"] == "OK" else event["status"]
    request = {"service": event["attrs"]["service"], **_pick(event, "class", "instance", "attribute")}
    return _views(event, request, {"service": event["attrs"]["service"], "status": status})


def cip_expect(row: dict):
    want = {"service": row["cip_service_code"]}
    if row["direction"] == "request":
        for ours, theirs in (("class", "class_id"), ("instance", "instance_id"), ("attribute", "attribute_id")):
            _set(row, want, ours, theirs)
        return ("req",), want
    _set(row, want, "status", "cip_status")
    return ("resp",), want


def cip_identity_views(event: dict) -> list[View]:
    return _views(event, {}, _pick(event, *IDENTITY_FIELDS)) if event["action"] == "List Identity" else []


def cip_identity_expect(row: dict):
    return ("resp",), {ours: row[theirs] for ours, theirs in IDENTITY_FIELDS.items()}


# -- BACnet -------------------------------------------------------------------------------------

REQUEST_PDUS = {"CONFIRMED_REQUEST", "UNCONFIRMED_REQUEST", "NPDU"}


def bacnet_views(event: dict) -> list[View]:
    ids = _pick(event, "invoke_id")
    request = {"action": event["action"], **ids, **_pick(event, "bvlc_function", "pdu_type", "instance",
                                                           "object_type", "device", "range")}
    response = {"action": event["action"], **ids, "reply": event["attrs"].get("reply", ""),
                "status": event["status"]}
    return _views(event, request, response)


def bacnet_expect(row: dict):
    pdu = row["pdu_type"]
    if pdu == "SEGMENT_ACK":
        return None
    if pdu in REQUEST_PDUS:
        want = {"action": row["pdu_service"], "bvlc_function": row["bvlc_function"], "pdu_type": pdu}
        _set(row, want, "invoke_id", "invoke_id")
        return ("req",), want
    want = {"reply": pdu, "status": row["result_code"] if row["result_code"] != "-" else "OK"}
    _set(row, want, "invoke_id", "invoke_id")
    if pdu not in ("REJECT_PDU", "ABORT_PDU"):
        want["action"] = row["pdu_service"]
    return ("resp",), want


def bacnet_discovery_expect(row: dict):
    want = {"action": row["pdu_service"].replace("-", "_")}
    if want["action"] in ("i_am", "i_have"):
        _set(row, want, "object_type", "object_type")
        _set(row, want, "instance", "instance_number")
        _set(row, want, "device", "device_id_number")
    if want["action"] == "who_is" and row["range"] != "All":
        want["range"] = row["range"]
    return ("req",), want


# -- Omron FINS ---------------------------------------------------------------------------------

FINS_COLUMNS = ("ts", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "tcp_header", "tcp_length",
                "tcp_command", "tcp_error_code", "tcp_client_node", "tcp_server_node", "icf_gateway",
                "icf_data_type", "icf_response_setting", "gateway_count", "dna", "da1", "da2", "sna", "sa1", "sa2",
                "sid", "command_code", "response_code")


def fins_views(event: dict) -> list[View]:
    code = event["attrs"].get("command_code", "")
    return _views(event, {"command_code": code}, {"command_code": code, "status": event["status"]})


def _code(text: str) -> str:
    """'Memory Area Read (0x0101)' → '0x0101'."""
    return text.rsplit("(", 1)[-1].rstrip(")").lower()


def fins_expect(row: dict):
    code = _code(row["command_code"])
    if row["command_code"].startswith("Program Area"):  # ICSNPP prints 0x0304-0x0308 as 0x0301-0x0305
        code = f"0x{int(code, 16) + 3:04x}"
    want = {"command_code": code}
    if row["icf_data_type"].startswith("Command"):
        return ("req",), want
    if row["response_code"].endswith(")") and row["response_code"] != "(empty)":  # some lack their number
        end = _code(row["response_code"])
        want["status"] = "OK" if end == "0x0000" else end
    return ("resp",), want


# -- OPC UA and HART-IP (wide logs cut without their header: the columns checked, by position) ---


def _columns(width: int, named: dict[int, str]) -> tuple[str, ...]:
    """Column names for a headerless log: ``named`` by 1-based position, the rest placeholders."""
    return tuple(named.get(i, f"col{i}") for i in range(1, width + 1))


OPCUA_COLUMNS = _columns(55, {**dict(enumerate(ID, 1)), 7: "msg_type", 17: "endpoint_url", 20: "security_policy",
                              31: "request", 50: "response"})
OPCUA_ACTIONS = {"HEL": "Hello", "ACK": "Hello", "CLO": "CloseSecureChannel", "ERR": "Error"}
HART_COLUMNS = _columns(60, {**dict(enumerate(ID, 1)), 11: "message_type", 12: "message_id", 14: "seq",
                             24: "command"})


def opcua_views(event: dict) -> list[View]:
    fields = {"action": event["action"], **_pick(event, "endpoint_url", "security_policy")}
    return _views(event, fields, fields)


def opcua_expect(row: dict):
    service = row["request"] if row["request"] != "-" else row["response"]
    want = {"action": OPCUA_ACTIONS.get(row["msg_type"]) or service.removesuffix("Request").removesuffix("Response")}
    _set(row, want, "endpoint_url", "endpoint_url")
    if row["msg_type"] == "OPN":
        _set(row, want, "security_policy", "security_policy")
    return {"HEL": ("req",), "ACK": ("resp",)}.get(row["msg_type"], ("txn",)), want


def hart_views(event: dict) -> list[View]:
    fields = {"message_id": event["attrs"]["message_id"], "seq": event["attrs"]["seq"],
              **_pick(event, "command"), "command_name": event["action"]}
    return _views(event, fields, fields)


def hart_expect(row: dict):
    if row["message_id"] == "Keep Alive":
        return None
    want = {"message_id": row["message_id"]}
    if row["message_type"] != "Publish":
        want["seq"] = row["seq"]
    if row["command"].startswith("unknown-0x"):
        want["command"] = str(int(row["command"][10:], 16))
    elif row["command"] != "-":
        want["command_name"] = row["command"]
    return ("resp",) if row["message_type"] == "Response" else ("req",), want


# -- PROFINET IO-CM (its log comes through zeek-cut without ts and uid) --------------------------

PNIO_CM_COLUMNS = ("id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p") + PEERS[1:] + (
    "proto", "rpc_version", "packet_type", "reserved_for_impl_1", "last_fragment", "fragment", "no_fragment_requested",
    "maybe", "idempotent", "broadcast", "reserved_for_impl_2", "cancel_was_pending_at_call_end", "integer_encoding",
    "character_encoding", "floating_point_encoding", "serial_high", "object_uuid", "interface_uuid", "activity_uuid",
    "server_boot_time", "interface_vers_major", "interface_vers_minor", "sequence_num", "operation_num",
    "interface_hint", "activity_hint", "len_of_body", "fragment_num", "auth_protocol", "serial_low", "vers_fack",
    "window_size", "max_tsdu", "max_frag_size", "serial_number", "sel_ack_len", "array_of_sel_ack")
PNIO_CM_UUIDS = ("object_uuid", "interface_uuid", "activity_uuid")
PNIO_CM_CALLS = {"Request": ("req",), "Response": ("resp",), "Fault": ("resp",), "Reject": ("resp",)}


def pnio_cm_views(event: dict) -> list[View]:
    ids = {"action": event["action"], **_pick(event, "seq", "interface_version", *PNIO_CM_UUIDS)}
    request = {**ids, "packet_type": "Request"}
    views = _views(event, request, {**ids, "packet_type": event["attrs"].get("reply", "")})
    more = int(event["attrs"].get("fragments", 1)) - 1  # ICSNPP logs each fragment of a request
    return views + [View("req", v.ts, request) for v in views if v.side == "req" for _ in range(more)]


def pnio_cm_expect(row: dict):
    if row["packet_type"] not in PNIO_CM_CALLS:
        return None
    little = row["integer_encoding"] == "Little Endian"
    want = {name: str(uuid.UUID(bytes_le=uuid.UUID(row[name]).bytes)).upper() if little else row[name]
            for name in PNIO_CM_UUIDS}
    want.update(action=row["operation_num"], packet_type=row["packet_type"], seq=row["sequence_num"],
                interface_version=f"{row['interface_vers_minor']}.{row['interface_vers_major']}")
    return PNIO_CM_CALLS[row["packet_type"]], want


# -- the logs -----------------------------------------------------------------------------------

MODBUS = frozenset({"modbus"})
SPECS: dict[str, Spec] = {
    "modbus.log": Spec("modbus", MODBUS, modbus_expect, modbus_views),
    "modbus_detailed.log": Spec("modbus", MODBUS, modbus_expect, modbus_views),
    "dnp3.log": Spec("dnp3", frozenset({"dnp3"}), dnp3_expect, dnp3_views),
    "dnp3_objects.log": Spec("dnp3", frozenset({"dnp3"}), dnp3_object_expect, dnp3_object_views),
    "s7comm.log": Spec("s7comm", frozenset({"s7comm"}), s7_expect, s7_views),
    "s7comm_plus.log": Spec("s7comm", frozenset({"s7comm-plus"}), s7plus_expect, s7_views),
    "s7comm_read_szl.log": Spec("s7comm", frozenset({"s7comm"}), s7_szl_expect, s7_views),
    "s7comm_upload_download.log": Spec("s7comm", frozenset({"s7comm"}), s7_block_expect, s7_views),
    "enip.log": Spec("enip", frozenset({"enip", "cip"}), enip_expect, enip_views, ENIP_COLUMNS),
    "cip.log": Spec("enip", frozenset({"cip"}), cip_expect, cip_views, CIP_COLUMNS),
    "cip_identity.log": Spec("enip", frozenset({"enip"}), cip_identity_expect, cip_identity_views,
                             CIP_IDENTITY_COLUMNS),
    "bacnet.log": Spec("bacnet", frozenset({"bacnet"}), bacnet_expect, bacnet_views),
    "bacnet_discovery.log": Spec("bacnet", frozenset({"bacnet"}), bacnet_discovery_expect, bacnet_views),
    "omron_fins_general.log": Spec("omron_fins", frozenset({"omron_fins"}), fins_expect, fins_views, FINS_COLUMNS),
    "opcua_binary.log": Spec("opcua", frozenset({"opcua"}), opcua_expect, opcua_views, OPCUA_COLUMNS),
    "hart_ip_general.log": Spec("hart_ip", frozenset({"hart_ip"}), hart_expect, hart_views, HART_COLUMNS),
    "profinet_io_cm.log": Spec("profinet_io_cm", frozenset({"profinet_io_cm"}), pnio_cm_expect, pnio_cm_views,
                               PNIO_CM_COLUMNS),
}
# ICSNPP's modbus.log test output went through zeek-cut without its header
HEADERLESS = {"icsnpp/modbus/baseline/analyzer.basic/modbus.log": ID + ("func", "exception")}
NOT_CHECKED = {"cip_io.log": "cyclic CIP I/O is summarised by the flow record, not logged per packet"}
KNOWN_DEVICES = "s7comm_known_devices.log"  # identity strings, checked against our observations
# conn.logs written by a Zeek that had the protocol's analyzer: their service column is checked. Not
# ics-pcap/MODBUS: that old Bro left the service empty even for connections its modbus.log decoded.
SERVICE_BASELINES = ("icsnpp/modbus/", "icsnpp/dnp3/", "icsnpp/s7comm/", "icsnpp/enip/", "icsnpp/bacnet/",
                     "icsnpp/profinet-io-cm/", "zeek/Baseline/scripts.base.protocols.modbus", "ics-pcap/DNP3/")
OT_SERVICES = {"modbus", "dnp3_tcp", "dnp3_udp", "cotp", "s7comm", "s7comm-plus", "enip", "cip", "bacnet",
               "profinet_io_cm"}
CONN_COLUMNS = ("id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service")  # zeek-cut by ICSNPP tests
KNOWN_DEVICE_FACTS = {"system_name": "automation_system_name", "product": "module_name",
                      "serial": "module_serial", "plant_name": "plant_name"}


def mark_bro_duplicates(rows: list[dict]) -> list[dict]:
    """Old Bro wrote an exception response twice, first without the exception: mark the first."""
    for row, following in itertools.pairwise(rows):
        if row.get("exception") == "-" and row["func"].endswith("_EXCEPTION") and following["func"] == row["func"] \
                and following["ts"] == row["ts"] and following.get("exception", "-") != "-":
            row["duplicate"] = True
    return rows


def _cases() -> list[tuple[str, str]]:
    if not (CORPUS / "BASELINE_MAP.csv").exists():
        return []
    names = set(SPECS) | set(NOT_CHECKED) | {KNOWN_DEVICES}
    with open(CORPUS / "BASELINE_MAP.csv", newline="") as f:
        rows = [row for row in csv.DictReader(f) if row["trace"] and (CORPUS / row["trace"]).exists()]
    return [(row["trace"], row["baseline"]) for row in rows
            if Path(row["baseline"]).name in names
            or (Path(row["baseline"]).name == "conn.log" and row["baseline"].startswith(SERVICE_BASELINES))]


def read_log(path: Path, columns: tuple[str, ...] | None = None) -> list[dict]:
    """Rows of a Zeek TSV log, by its #fields header or the given columns."""
    fields, rows = columns, []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("#fields"):
            fields = tuple(line.split("\t")[1:])
        elif line.strip() and not line.startswith("#"):
            if fields is None:
                raise ValueError(f"{path}: no #fields header and no known columns")
            rows.append(dict(zip(fields, line.split("\t"))))
    return rows


def _ts(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:  # masked by the test: XXXXXXXXXX.XXXXXX
        return None


@dataclass
class Outcome:
    matched: int = 0
    rows: int = 0
    skipped: int = 0
    diffs: list[str] = field(default_factory=list)


class Traffic:
    """One trace through the pipeline: events, observations and each flow's 5-tuple and service."""

    def __init__(self, trace: str) -> None:
        self.events: list[dict] = []
        self.observations: list[dict] = []
        self.flows: dict[str, dict] = {}
        for iv in iter_intervals([CORPUS / trace], interval=60.0):
            self.events += iv.events
            self.observations += iv.observations
            names = ("uid", "orig_h", "orig_p", "resp_h", "resp_p", "service")
            for row in iv.flows.select(names).to_pylist():
                self.flows[row["uid"]] = row

    def tuple_of(self, uid: str) -> tuple[str, str, str, str]:
        f = self.flows[uid]
        return f["orig_h"], str(f["orig_p"]), f["resp_h"], str(f["resp_p"])


def compare(rows: list[dict], spec: Spec, traffic: Traffic) -> Outcome:
    views: dict[tuple, list[View]] = defaultdict(list)
    for event in traffic.events:
        if event["protocol"] in spec.event_protocols:
            for view in spec.views(event):
                views[(traffic.tuple_of(event["uid"]), view.side)].append(view)
    for group in views.values():
        group.sort(key=lambda v: v.ts)
    times = {key: [v.ts for v in group] for key, group in views.items()}
    out = Outcome()
    for row in rows:
        expected = spec.expect(row)
        if expected is None:
            out.skipped += 1
            continue
        out.rows += 1
        sides, want = expected
        conn = (row["id.orig_h"], row["id.orig_p"], row["id.resp_h"], row["id.resp_p"])
        ts = _ts(row.get("ts", "-"))
        best = None
        for side in sides:
            group, when = views.get((conn, side), []), times.get((conn, side), [])
            lo, hi = (bisect.bisect_left(when, ts - TS_TOLERANCE), bisect.bisect_right(when, ts + TS_TOLERANCE)) \
                if ts is not None else (0, len(group))
            for view in group[lo:hi]:
                if view.used or any(view.fields.get(k) != v for k, v in want.items()):
                    continue
                if ts is None:
                    best = best if best is not None and best.ts <= view.ts else view
                    break
                if best is None or abs(view.ts - ts) < abs(best.ts - ts):
                    best = view
        if best is not None:
            best.used = True
            out.matched += 1
        else:
            near = [v.fields for side in sides for v in views.get((conn, side), []) if not v.used][:1]
            out.diffs.append(f"{conn} {sides} want {want}; first unused view: {near}")
    return out


def known_devices(rows: list[dict], traffic: Traffic) -> Outcome:
    """s7comm_known_devices.log: each identity string is one of our observations of the PLC."""
    facts = {(o["ip"], o["attribute"], o["value"]) for o in traffic.observations}
    out = Outcome()
    for row in rows:
        for ours, theirs in KNOWN_DEVICE_FACTS.items():
            if row[theirs] in ("-", "(empty)"):
                continue
            out.rows += 1
            if (row["id.resp_h"], ours, row[theirs]) in facts:
                out.matched += 1
            else:
                out.diffs.append(f"no {ours}={row[theirs]!r} observed for {row['id.resp_h']}")
    return out


def services(rows: list[dict], traffic: Traffic) -> Outcome:
    """conn.log: the OT services Zeek names for a connection are the OT services we name (none
    for the connections it found to be something else, e.g. TLS or DCE/RPC on port 502)."""
    ours = defaultdict(list)
    for f in traffic.flows.values():
        ours[(f["orig_h"], str(f["orig_p"]), f["resp_h"], str(f["resp_p"]))].append(f["service"])
    out = Outcome()
    for row in rows:
        if row["proto"] not in ("tcp", "udp"):
            continue
        out.rows += 1
        want = {name.removeprefix("spicy_") for name in row["service"].split(",")} & OT_SERVICES  # Spicy analyzers
        conn = (row["id.orig_h"], row["id.orig_p"], row["id.resp_h"], row["id.resp_p"])
        got = [set(service.split(",")) & OT_SERVICES for service in ours.get(conn, [])]
        if want in got:
            out.matched += 1
        else:
            out.diffs.append(f"{conn}: zeek {sorted(want)}, ours {got}")
    return out


@pytest.mark.skipif(not _cases(), reason="corpus not available")
def test_icsnpp_and_zeek_protocol_log_agreement():
    traffic: dict[str, Traffic] = {}
    totals: dict[str, Outcome] = defaultdict(Outcome)
    lines, problems = [], []
    for trace, base in _cases():
        name = Path(base).name
        if name in NOT_CHECKED:
            rows = read_log(CORPUS / base, CIP_COLUMNS)
            totals["enip"].skipped += len(rows)
            lines.append(f"{'':>11} {'skipped':>8} {base} ({NOT_CHECKED[name]})")
            continue
        if trace not in traffic:
            traffic[trace] = Traffic(trace)
        if name == KNOWN_DEVICES:
            protocol, outcome = "s7comm", known_devices(read_log(CORPUS / base), traffic[trace])
        elif name == "conn.log":
            protocol, outcome = "service", services(read_log(CORPUS / base, CONN_COLUMNS), traffic[trace])
        else:
            spec = SPECS[name]
            rows = mark_bro_duplicates(read_log(CORPUS / base, HEADERLESS.get(base, spec.columns)))
            protocol, outcome = spec.protocol, compare(rows, spec, traffic[trace])
        total = totals[protocol]
        total.matched += outcome.matched
        total.rows += outcome.rows
        total.skipped += outcome.skipped
        lines.append(f"{outcome.matched:5d}/{outcome.rows:<5d} {outcome.skipped:8d} {base}")
        problems += [f"  {base}: {d}" for d in outcome.diffs[:5]]
    print("\nmatched/rows  skipped  baseline")
    print("\n".join(lines))
    print(f"{'protocol':10} {'matched':>8} {'rows':>6} {'rate':>7} {'skipped':>8}")
    for protocol, t in sorted(totals.items()):
        print(f"{protocol:10} {t.matched:8d} {t.rows:6d} {t.matched / max(t.rows, 1):7.1%} {t.skipped:8d}")
    if problems:
        print("first differences per baseline:\n" + "\n".join(problems))
    assert set(totals) == {"modbus", "dnp3", "s7comm", "enip", "bacnet", "omron_fins", "opcua", "hart_ip",
                           "profinet_io_cm", "service"}
    low = {p: t.matched / t.rows for p, t in totals.items() if t.rows and t.matched / t.rows < MIN_RATE}
    assert not low, f"agreement below {MIN_RATE:.0%}: {low}"
