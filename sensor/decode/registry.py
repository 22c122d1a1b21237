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


def candidates(transport: str, sport: int, dport: int,
               protocols: tuple[Protocol, ...] = PROTOCOLS) -> list[Protocol]:
    """Protocols to try on a new flow of ``transport``, those bound to its ports first."""
    usable = [p for p in protocols if transport in p.transports]
    bound = [p for p in usable if sport in p.ports or dport in p.ports]
    return bound + [p for p in usable if p not in bound]
