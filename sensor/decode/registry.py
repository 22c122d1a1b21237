"""The application protocols the sensor decodes, bound in detection order (and ``guarded``).

Detection tries the protocols bound to one of a flow's ports first, then every other protocol of
the flow's transport, so a protocol on a non-standard port is still found from its payload.
"""

from __future__ import annotations

from sensor.decode import ads, bacnet, cclink_basic, dnp3, enip, fins, hartip, iec104, knxip, modbus, opcua, s7comm
from sensor.decode import pnio_cm, slmp
from sensor.decode import ftp, http, imap, mqtt, ntp, pop3, rdp, rtcp, rtp, rtsp, smb, smtp, snmp, ssdp, ssh
from sensor.decode import netbios_ns, teamviewer, telnet, tls, vnc, wsd
from sensor.decode import cclink_ie, cdp, goose, lldp, profinet
from sensor.decode.spec import LinkProtocol, Protocol, guarded

PROTOCOLS: tuple[Protocol, ...] = tuple(map(guarded, (modbus.PROTOCOL, s7comm.PROTOCOL, enip.PROTOCOL, bacnet.PROTOCOL,
                                     dnp3.PROTOCOL, iec104.PROTOCOL, fins.PROTOCOL, opcua.PROTOCOL,
                                     hartip.PROTOCOL, slmp.PROTOCOL, cclink_basic.PROTOCOL, ads.PROTOCOL,
                                     knxip.PROTOCOL, pnio_cm.PROTOCOL,
                                     # binary network protocols, then text ones (HTTP and Telnet's bare
                                     # prompt match loosely), and last RTP, whose one-packet check the
                                     # decoder confirms over the following packets
                                     tls.PROTOCOL, ssh.PROTOCOL, rdp.PROTOCOL, vnc.PROTOCOL, smb.PROTOCOL,
                                     netbios_ns.PROTOCOL, snmp.PROTOCOL, ntp.PROTOCOL,
                                     mqtt.PROTOCOL, rtcp.PROTOCOL, rtsp.PROTOCOL, ssdp.PROTOCOL, wsd.PROTOCOL,
                                     ftp.PROTOCOL, smtp.PROTOCOL, pop3.PROTOCOL, imap.PROTOCOL, http.PROTOCOL,
                                     telnet.PROTOCOL, teamviewer.PROTOCOL,
                                     rtp.PROTOCOL)))
# carried straight in Ethernet frames, bound by EtherType (or LLC/SNAP header)
LINK_PROTOCOLS: tuple[LinkProtocol, ...] = tuple(map(guarded, (lldp.PROTOCOL, cdp.PROTOCOL, goose.PROTOCOL,
                                                             profinet.PROTOCOL, cclink_ie.PROTOCOL)))


# per (transport, id of a protocols tuple): the tuple, its protocols of the transport, port → their
# indices, and the detection orders built so far (by the indices bound to a flow's ports)
_PLANS: dict[tuple[str, int], tuple] = {}
MAX_PLANS = 64  # protocol tuples are few (the registry's, a test's)


def candidates(transport: str, sport: int, dport: int,
               protocols: tuple[Protocol, ...] = PROTOCOLS) -> tuple[Protocol, ...]:
    """Protocols to try on a new flow of ``transport``, those bound to its ports first (one dict
    lookup per port: detection runs on every new flow)."""
    plan = _PLANS.get((transport, id(protocols)))
    if plan is None or plan[0] is not protocols:
        usable = tuple(p for p in protocols if transport in p.transports)
        by_port: dict[int, set[int]] = {}
        for i, proto in enumerate(usable):
            for port in proto.ports:
                by_port.setdefault(port, set()).add(i)
        if len(_PLANS) >= MAX_PLANS:
            _PLANS.clear()
        plan = _PLANS[transport, id(protocols)] = (protocols, usable, by_port, {})
    _, usable, by_port, orders = plan
    bound = tuple(sorted(by_port.get(sport, set()) | by_port.get(dport, set())))
    order = orders.get(bound)
    if order is None:
        order = orders[bound] = tuple(usable[i] for i in bound) + tuple(
            p for i, p in enumerate(usable) if i not in bound)
    return order
