"""Device role from what a device does on the network: the services it serves and uses, and the
control actions it sends. An explicit role fact (a decoder or the sensor said so) wins when it is
at least as confident as the inference."""

from __future__ import annotations

from dataclasses import dataclass

# Zeek-style service names of industrial control protocols (the server side is a controller).
OT_SERVICES = frozenset({
    "modbus", "s7comm", "s7comm-plus", "enip", "cip", "bacnet", "dnp3", "dnp3_tcp", "iec104",
    "omron_fins", "slmp", "opcua", "hart_ip", "ads", "knxnet_ip", "mms", "goose", "profinet_rt",
    "cclink_ie_field_basic",
})
CAMERA_SERVICES = frozenset({"rtsp", "ws-discovery", "onvif"})
INFRA_SERVICES = frozenset({"dns", "dhcp", "ntp", "ldap", "kerberos", "syslog", "smb"})
# Actions that change a controller's program or run state: an engineering workstation's job.
ENGINEERING_WORDS = ("download", "upload", "stop", "start", "run", "program", "firmware", "block")

# Well-known server ports, used only when a flow has no detected service (lower confidence).
PORT_HINTS = {
    502: "modbus", 102: "s7comm", 44818: "enip", 2222: "cip", 47808: "bacnet", 20000: "dnp3",
    2404: "iec104", 9600: "omron_fins", 5007: "slmp", 4840: "opcua", 5094: "hart_ip", 48898: "ads",
    554: "rtsp", 53: "dns", 67: "dhcp", 123: "ntp", 445: "smb",
}

CONF_SERVICE = 80  # inferred from detected services
CONF_PORT = 50  # inferred from port numbers only


@dataclass(frozen=True)
class Role:
    value: str
    source: str
    confidence: int


def service_name(service: str, resp_p: int) -> tuple[str, bool]:
    """(service, detected?) for one flow side: the detected service, else a port hint."""
    if service:
        return service, True
    return PORT_HINTS.get(resp_p, ""), False


def infer_role(served: dict[str, bool], used: dict[str, bool], actions: set[str],
               rtsp_peers: int = 0) -> Role | None:
    """Role from behaviour. ``served``/``used`` map service → detected (True) or port-hinted."""

    def conf(names: set[str]) -> int:
        return CONF_SERVICE if any(served.get(n) or used.get(n) for n in names) else CONF_PORT

    served_ot = OT_SERVICES & served.keys()
    used_ot = OT_SERVICES & used.keys()
    if served_ot:
        return Role("plc", "behaviour", conf(served_ot))
    if CAMERA_SERVICES & served.keys():
        return Role("camera", "behaviour", conf(CAMERA_SERVICES & served.keys()))
    if "rtsp" in used and rtsp_peers >= 2:
        return Role("nvr", "behaviour", conf({"rtsp"}))
    if used_ot:
        engineering = any(word in action.lower() for action in actions for word in ENGINEERING_WORDS)
        return Role("engineering_workstation" if engineering else "hmi", "behaviour", conf(used_ot))
    if INFRA_SERVICES & served.keys():
        return Role("server", "behaviour", conf(INFRA_SERVICES & served.keys()))
    return None


def choose_role(inferred: Role | None, stated: Role | None) -> Role | None:
    """A stated role (fact) beats inference unless inference is more confident."""
    if stated and (inferred is None or stated.confidence >= inferred.confidence):
        return stated
    return inferred
