"""Header decoding straight from capture bytes: frames → packet columns (one numba loop).

Every frame gets a ``status``: OK (an IP packet with its transport header), NON_IP (a
well-formed L2 frame that does not carry IP: ARP, PROFINET, GOOSE, LLDP, …) or MALFORMED
(truncated or inconsistent headers, unknown link type), and a MALFORMED frame an ``error``
saying why (``ERRORS``). Tunnels and link encapsulations are opened down to IP: VLAN tags of
any depth, PPPoE sessions, MPLS label stacks, PPP (bare or in HDLC framing), Cisco HDLC and
NFLOG records. Addresses are integers: MACs as
uint64, IP addresses as two uint64 halves (IPv4 in the low half). For ICMP, ``sport`` is
the type and ``dport`` the counterpart type (echo request ↔ reply, …) or else the code,
which is how Zeek and Community ID key ICMP flows.

Helpers are compiled with ``_nrt=False``: they only index arrays they are handed, and without
the runtime's reference counting a call no longer costs two atomic operations per array in
the ``Packets`` tuple (that made the loop ~8x slower). The loop asks for the headers of the frame
``DECODE_AHEAD`` frames on while it decodes one, so that their memory is on its way.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sensor.capture.pcapfile import Frames
from sensor.capture.prefetch import LINE, prefetch
from sensor.jit import njit

OK, NON_IP, MALFORMED = 0, 1, 2
# why a frame is MALFORMED: an unknown link type; a damaged link or tunnel header; IP; transport
ERR_NONE, ERR_LINK_TYPE, ERR_LINK, ERR_IP, ERR_TRANSPORT = 0, 1, 2, 3, 4
ERRORS = {ERR_LINK_TYPE: "link_type", ERR_LINK: "link", ERR_IP: "ip", ERR_TRANSPORT: "transport"}
DECODE_AHEAD = 8  # frames (1M-packet plant: decoding 0.18 → 0.11 s of CPU)
FRAG_NONE, FRAG_FIRST, FRAG_LATER = 0, 1, 2
TCP, UDP, ICMP, ICMP6 = 6, 17, 1, 58
ETH_IPV4, ETH_IPV6, ETH_ARP = 0x0800, 0x86DD, 0x0806

# link types (LINKTYPE_* values as stored in pcap/pcapng)
LT_NULL, LT_ETHERNET, LT_RAW, LT_LOOP, LT_SLL, LT_IPV4, LT_IPV6, LT_SLL2 = 0, 1, 101, 108, 113, 228, 229, 276
LT_RAW_ALIASES = (12, 14)  # DLT_RAW as written by some BSDs
LT_PPP, LT_PPP_HDLC, LT_PPP_ETHER, LT_C_HDLC, LT_NFLOG = 9, 50, 51, 104, 239
ETH_PPP, ETH_PPPOE, ETH_MPLS, ETH_MPLS_MC = 0x880B, 0x8864, 0x8847, 0x8848
NFULA_PAYLOAD = 9  # the NFLOG TLV holding the packet
MAX_WIRELEN = 1 << 18  # longer than any real frame (TSO, jumbo): a record header that lies


class Packets(NamedTuple):
    """Column arrays, one row per frame (names follow the header fields)."""

    ts: np.ndarray  # int64 µs
    caplen: np.ndarray  # int32
    wirelen: np.ndarray  # int32
    status: np.ndarray  # uint8: OK / NON_IP / MALFORMED
    src_mac: np.ndarray  # uint64
    dst_mac: np.ndarray  # uint64
    vlan: np.ndarray  # uint16, outer tag
    ethertype: np.ndarray  # uint16 (0 for 802.3 length frames)
    l3_off: np.ndarray  # int64: offset of the L3 header in the buffer
    ipver: np.ndarray  # uint8 4 / 6
    proto: np.ndarray  # uint8
    src_hi: np.ndarray  # uint64
    src_lo: np.ndarray
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    ip_id: np.ndarray  # uint32
    frag: np.ndarray  # uint8 FRAG_*
    ip_len: np.ndarray  # uint32: IP total length (header + payload) as the header says
    sport: np.ndarray  # uint16
    dport: np.ndarray
    tcp_flags: np.ndarray  # uint8
    seq: np.ndarray  # uint32
    ack: np.ndarray
    win: np.ndarray  # uint16
    pay_off: np.ndarray  # int64: payload offset in the buffer
    pay_len: np.ndarray  # int32: transport payload length per the headers (may exceed caplen)
    dns_qr: np.ndarray  # uint8: UDP on a DNS port with a DNS header: 1 query, 2 response, else 0
    error: np.ndarray  # uint8: ERR_* of a MALFORMED frame


_DTYPES = dict(
    ts=np.int64, caplen=np.int32, wirelen=np.int32, status=np.uint8, src_mac=np.uint64, dst_mac=np.uint64,
    vlan=np.uint16, ethertype=np.uint16, l3_off=np.int64, ipver=np.uint8, proto=np.uint8, src_hi=np.uint64,
    src_lo=np.uint64, dst_hi=np.uint64, dst_lo=np.uint64, ip_id=np.uint32, frag=np.uint8, ip_len=np.uint32,
    sport=np.uint16, dport=np.uint16, tcp_flags=np.uint8, seq=np.uint32, ack=np.uint32, win=np.uint16,
    pay_off=np.int64, pay_len=np.int32, dns_qr=np.uint8, error=np.uint8,
)
DNS_PORTS = (53, 137, 5353, 5355)  # ports Zeek's DNS analyzer is registered for


# Big-endian reads. Signed int64 results on purpose: mixing unsigned and signed integers makes
# numba unify to float64, which is slow and lossy.
@njit(cache=True, _nrt=False)
def _be16(b, o):
    return (np.int64(b[o]) << 8) | np.int64(b[o + 1])


@njit(cache=True, _nrt=False)
def _be32(b, o):
    return (np.int64(b[o]) << 24) | (np.int64(b[o + 1]) << 16) | (np.int64(b[o + 2]) << 8) | np.int64(b[o + 3])


@njit(cache=True, _nrt=False)
def _be48(b, o):
    return (np.uint64(_be16(b, o)) << 32) | np.uint64(_be32(b, o + 2))


@njit(cache=True, _nrt=False)
def _be64(b, o):
    return (np.uint64(_be32(b, o)) << 32) | np.uint64(_be32(b, o + 4))


@njit(cache=True, _nrt=False)
def icmp_counterpart(v6, t, code):
    """Zeek's ICMP4/6_counterpart: the paired message type, or the code for one-way types."""
    if not v6:
        if t == 8 or t == 13 or t == 15 or t == 17:
            return t - 8 if t == 8 else t + 1
        if t == 0:
            return 8
        if t == 14 or t == 16 or t == 18:
            return t - 1
        if t == 10:
            return 9
        if t == 9:
            return 10
        return code
    if t == 128 or t == 133 or t == 135 or t == 130 or t == 139 or t == 144:
        return t + 1
    if t == 129 or t == 134 or t == 136 or t == 131 or t == 140 or t == 145:
        return t - 1
    return code


@njit(cache=True, _nrt=False)
def _ppp_type(proto):
    """The EtherType of a PPP protocol number (RFC 1661 / IANA PPP DLL numbers); ETH_PPP for the
    rest (link control, authentication, …), which makes the frame a non-IP one."""
    if proto == 0x21:
        return ETH_IPV4
    if proto == 0x57:
        return ETH_IPV6
    if proto == 0x281:
        return ETH_MPLS
    if proto == 0x283:
        return ETH_MPLS_MC
    return ETH_PPP


@njit(cache=True, _nrt=False)
def _ppp(b, q, end):
    """A PPP header at q (optional FF 03 HDLC address and control, then the protocol, one byte
    when compressed): return (EtherType, offset after it) or (-1, 0)."""
    if end - q >= 2 and b[q] == 0xFF and b[q + 1] == 0x03:
        q += 2
    if end - q < 1:
        return -1, 0
    if b[q] & 1:  # protocol field compression: an odd first octet is the whole field
        return _ppp_type(np.int64(b[q])), q + 1
    if end - q < 2:
        return -1, 0
    return _ppp_type(_be16(b, q)), q + 2


@njit(cache=True, _nrt=False)
def _pppoe(b, q, end):
    """A PPPoE session header (RFC 2516: ver/type 0x11, code 0, session id, length) and the PPP
    protocol after it: return (EtherType, offset) or (-1, 0)."""
    if end - q < 8 or b[q] != 0x11 or b[q + 1] != 0:
        return -1, 0
    return _ppp(b, q + 6, end)


@njit(cache=True, _nrt=False)
def _mpls(b, q, end):
    """An MPLS label stack: labels up to the bottom-of-stack bit, then IPv4 or IPv6 by the version
    nibble; any other payload (a pseudowire) leaves a non-IP MPLS frame. Return (EtherType, offset)."""
    while True:
        if end - q < 4:
            return -1, 0
        bottom = b[q + 2] & 1
        q += 4
        if bottom:
            break
    v = b[q] >> 4 if end > q else 0
    if v == 4:
        return ETH_IPV4, q
    if v == 6:
        return ETH_IPV6, q
    return ETH_MPLS, q


@njit(cache=True, _nrt=False)
def _le16(b, o):
    return np.int64(b[o]) | (np.int64(b[o + 1]) << 8)


@njit(cache=True, _nrt=False)
def _nflog(b, p, end):
    """An NFLOG record: a 4-byte header (address family, version, resource id), then TLVs whose
    length (header included, padded to 4 bytes) and type are in the logging host's byte order,
    read here as little-endian. The packet is the NFULA_PAYLOAD TLV's value (it may run past
    the snaplen). Return (EtherType by address family or version nibble, offset) or (-1, 0)."""
    if end - p < 4:
        return -1, 0
    fam = b[p]
    q = p + 4
    while end - q >= 4:
        ln = _le16(b, q)
        if ln < 4:
            return -1, 0
        if (_le16(b, q + 2) & 0x3FFF) == NFULA_PAYLOAD:  # without the nested / byte-order flags
            q += 4
            v = b[q] >> 4 if end > q else 0
            if fam == 2 or (fam != 10 and v == 4):
                return ETH_IPV4, q
            if fam == 10 or v == 6:
                return ETH_IPV6, q
            return -1, 0
        q += (ln + 3) & ~3
    return -1, 0


@njit(cache=True, _nrt=False)
def _link(b, p, end, lt):
    """Parse the link layer of a frame and the tunnels inside it; return (ethertype, L3 offset, destination
    MAC, source MAC, outer VLAN id), or (-ERR_*, 0, …) if the link type is unknown or a header is damaged
    (with what was read before it)."""
    et = -ERR_LINK
    q = p
    dst, src, vlan = np.uint64(0), np.uint64(0), np.int64(0)
    if lt == LT_ETHERNET:
        if end - p < 14:
            return -ERR_LINK, 0, dst, src, vlan
        dst = _be48(b, p)
        src = _be48(b, p + 6)
        et = _be16(b, p + 12)
        q = p + 14
    elif lt == LT_SLL or lt == LT_SLL2:
        hl = 16 if lt == LT_SLL else 20
        if end - p < hl:
            return -ERR_LINK, 0, dst, src, vlan
        if lt == LT_SLL:
            et, alen, atype, addr = _be16(b, p + 14), _be16(b, p + 4), _be16(b, p + 2), p + 6
        else:
            et, alen, atype, addr = _be16(b, p), np.int64(b[p + 11]), _be16(b, p + 8), p + 12
        if alen == 6 and atype == 1:  # the sender's Ethernet address
            src = _be48(b, addr)
        q = p + hl
    elif lt == LT_RAW or lt == LT_RAW_ALIASES[0] or lt == LT_RAW_ALIASES[1] or lt == LT_IPV4 or lt == LT_IPV6:
        if end - p < 1:
            return -ERR_LINK, 0, dst, src, vlan
        v = b[p] >> 4
        if lt == LT_IPV4 or (lt != LT_IPV6 and v == 4):
            et = ETH_IPV4
        elif lt == LT_IPV6 or v == 6:
            et = ETH_IPV6
        else:
            return -ERR_LINK, 0, dst, src, vlan
    elif lt == LT_NULL or lt == LT_LOOP:
        if end - p < 4:
            return -ERR_LINK, 0, dst, src, vlan
        fam = b[p] if b[p] != 0 else b[p + 3]  # host byte order for NULL, network for LOOP
        if fam == 2:
            et = ETH_IPV4
        elif fam == 10 or fam == 23 or fam == 24 or fam == 28 or fam == 30:
            et = ETH_IPV6
        else:
            et = 0
        q = p + 4
    elif lt == LT_PPP or (lt == LT_PPP_HDLC and end - p >= 1 and b[p] == 0xFF):
        et, q = _ppp(b, p, end)
    elif lt == LT_C_HDLC or lt == LT_PPP_HDLC:  # Cisco HDLC: address 0x0F/0x8F, control, EtherType
        if end - p < 4 or (b[p] & 0x7F) != 0x0F:
            return -ERR_LINK, 0, dst, src, vlan
        et, q = _be16(b, p + 2), p + 4
    elif lt == LT_PPP_ETHER:
        et, q = _pppoe(b, p, end)
    elif lt == LT_NFLOG:
        et, q = _nflog(b, p, end)
    else:
        return -ERR_LINK_TYPE, 0, dst, src, vlan
    # tunnels, each at least 4 bytes: 802.1Q / 802.1ad / QinQ tags of any depth (the outer VLAN id
    # is kept), PPPoE sessions, MPLS label stacks
    tagged = False
    while et >= 0:
        if et == 0x8100 or et == 0x88A8 or et == 0x9100:
            if end - q < 4:
                return -ERR_LINK, 0, dst, src, vlan
            if not tagged:
                vlan = _be16(b, q) & 0xFFF
                tagged = True
            et = _be16(b, q + 2)
            q += 4
        elif et == ETH_PPPOE:
            et, q = _pppoe(b, q, end)
        elif et == ETH_MPLS or et == ETH_MPLS_MC:
            et2, q2 = _mpls(b, q, end)
            if et2 == ETH_MPLS:  # not IP: a non-IP MPLS frame, its payload after the label stack
                return et, q2, dst, src, vlan
            et, q = et2, q2
        else:
            break
    if et < 0:
        return -ERR_LINK, 0, dst, src, vlan
    if et < 0x600:  # 802.3 length field: an LLC frame
        et = 0
    return et, q, dst, src, vlan


@njit(cache=True, _nrt=False)
def _ipv6_chain(b, q, end, nh):
    """Walk IPv6 extension headers; return (transport proto, transport offset, the last fragment header's
    identification and FRAG_*) or (-1, 0, …)."""
    ip_id, frag = np.int64(0), np.int64(FRAG_NONE)
    while True:
        if nh == 0 or nh == 43 or nh == 60 or nh == 135 or nh == 139 or nh == 140:
            if end - q < 8:
                return -1, 0, ip_id, frag
            nxt = b[q]
            q += (np.int64(b[q + 1]) + 1) * 8
        elif nh == 51:  # AH: length in 4-octet units minus 2
            if end - q < 8:
                return -1, 0, ip_id, frag
            nxt = b[q]
            q += (np.int64(b[q + 1]) + 2) * 4
        elif nh == 44:  # fragment header
            if end - q < 8:
                return -1, 0, ip_id, frag
            nxt = b[q]
            fo = _be16(b, q + 2)
            ip_id = _be32(b, q + 4)
            if (fo & 0xFFF8) != 0:
                frag = FRAG_LATER
            elif fo & 1:
                frag = FRAG_FIRST
            q += 8
        else:
            return nh, q, ip_id, frag
        if q > end:
            return -1, 0, ip_id, frag
        nh = nxt


@njit(cache=True, _nrt=False)
def _is_dns_port(port):
    return port == DNS_PORTS[0] or port == DNS_PORTS[1] or port == DNS_PORTS[2] or port == DNS_PORTS[3]


@njit(cache=True, _nrt=False)
def _transport(b, q, end, proto, l4_len):
    """Parse the transport header at q; l4_len is its length per the IP header. Return (ok, sport, dport,
    seq, ack, TCP flags, window, payload offset, payload length, dns_qr), zeros where not ok."""
    sport = dport = seq = ack = flags = win = pay_off = pay_len = dns_qr = np.int64(0)
    if proto == TCP:
        if end - q < 20:
            return False, sport, dport, seq, ack, flags, win, pay_off, pay_len, dns_qr
        doff = np.int64(b[q + 12] >> 4) * 4
        if doff < 20 or end - q < doff or l4_len < doff:
            return False, sport, dport, seq, ack, flags, win, pay_off, pay_len, dns_qr
        sport, dport, seq, ack = _be16(b, q), _be16(b, q + 2), _be32(b, q + 4), _be32(b, q + 8)
        flags, win, pay_off, pay_len = np.int64(b[q + 13]), _be16(b, q + 14), q + doff, l4_len - doff
    elif proto == UDP:
        if end - q < 8 or l4_len < 8:
            return False, sport, dport, seq, ack, flags, win, pay_off, pay_len, dns_qr
        sport, dport, pay_off, pay_len = _be16(b, q), _be16(b, q + 2), q + 8, max(_be16(b, q + 4) - 8, 0)
        if end - q >= 20 and (_is_dns_port(sport) or _is_dns_port(dport)):
            dns_qr = 1 + np.int64(b[q + 10] >> 7)
    elif proto == ICMP or proto == ICMP6:
        if end - q < 8 or l4_len < 8:
            return False, sport, dport, seq, ack, flags, win, pay_off, pay_len, dns_qr
        sport = np.int64(b[q])
        dport = np.int64(icmp_counterpart(proto == ICMP6, sport, np.int64(b[q + 1])))
        pay_off, pay_len = q + 8, l4_len - 8
    else:
        pay_off, pay_len = q, l4_len
    return True, sport, dport, seq, ack, flags, win, pay_off, pay_len, dns_qr


@njit(cache=True, _nrt=False)
def _ip(b, q, end, et, wire_left):
    """Parse the IPv4/IPv6 header at q: (ERR_NONE or why not, version, transport protocol, identification,
    FRAG_*, source high and low, destination high and low, total length, transport offset and length); a
    damaged header's with what was read before the damage, the rest zeros."""
    z, u = np.int64(0), np.uint64(0)
    ip_id, frag, src_hi, src_lo, dst_hi, dst_lo = z, np.int64(FRAG_NONE), u, u, u, u
    if et == ETH_IPV4:
        if end - q < 20 or (b[q] >> 4) != 4:
            return ERR_IP, z, z, z, z, u, u, u, u, z, z, z
        ihl = np.int64(b[q] & 0xF) * 4
        tot = np.int64(_be16(b, q + 2))
        if tot == 0:  # TSO: length left unset by the sender's NIC
            tot = wire_left
        if ihl < 20 or end - q < ihl or tot < ihl or tot > wire_left:
            return ERR_IP, z, z, z, z, u, u, u, u, z, z, z
        ip_id, fo = _be16(b, q + 4), _be16(b, q + 6)
        if (fo & 0x1FFF) != 0:
            frag = FRAG_LATER
        elif fo & 0x2000:
            frag = FRAG_FIRST
        src_lo, dst_lo = np.uint64(_be32(b, q + 12)), np.uint64(_be32(b, q + 16))
        return ERR_NONE, np.int64(4), np.int64(b[q + 9]), ip_id, frag, u, src_lo, u, dst_lo, tot, q + ihl, tot - ihl
    if end - q < 40 or (b[q] >> 4) != 6:
        return ERR_IP, z, z, z, z, u, u, u, u, z, z, z
    plen = np.int64(_be16(b, q + 4))
    if plen == 0:  # jumbogram or TSO
        plen = wire_left - 40
    tot = plen + 40
    if tot > wire_left:
        return ERR_IP, z, z, z, z, u, u, u, u, z, z, z
    src_hi, src_lo, dst_hi, dst_lo = _be64(b, q + 8), _be64(b, q + 16), _be64(b, q + 24), _be64(b, q + 32)
    proto, l4, ip_id, frag = _ipv6_chain(b, q + 40, end, np.int64(b[q + 6]))
    if proto < 0 or tot - (l4 - q) < 0:
        return ERR_IP, np.int64(6), z, ip_id, frag, src_hi, src_lo, dst_hi, dst_lo, z, z, z
    return ERR_NONE, np.int64(6), np.int64(proto), ip_id, frag, src_hi, src_lo, dst_hi, dst_lo, tot, l4, tot - (l4 - q)


@njit(cache=True)
def _decode(b, offset, linktype, c):
    """Decode frames into their columns, which come zeroed. The header parsers return values rather than
    take the columns (a call passing the 28 columns costs more than the parsing: two a frame were ~85 % of
    the decoding's samples); the fields most frames leave zero (VLAN, IPv6 high halves, fragments, TCP's
    alone, DNS) are stored only when they are not, so their columns' pages are not touched for nothing."""
    n = len(offset)
    last = len(b) - 1
    for i in range(n):
        if i + DECODE_AHEAD < n:  # the link, IP and transport headers: two lines at most
            ahead = offset[i + DECODE_AHEAD]
            prefetch(b, min(ahead, last))
            prefetch(b, min(ahead + LINE, last))
        p = offset[i]
        end = p + c.caplen[i]
        et, q, dst, src, vlan = _link(b, p, end, linktype[i])
        if dst:
            c.dst_mac[i] = dst
        if src:
            c.src_mac[i] = src
        if vlan:
            c.vlan[i] = vlan
        c.l3_off[i] = q
        if et < 0:
            c.status[i] = MALFORMED
            c.error[i] = -et
            continue
        c.ethertype[i] = et
        if et != ETH_IPV4 and et != ETH_IPV6:
            c.status[i] = NON_IP
            c.pay_off[i] = q
            c.pay_len[i] = end - q
            continue
        err, ver, proto, ip_id, frag, src_hi, src_lo, dst_hi, dst_lo, tot, l4, l4_len = _ip(
            b, q, end, et, np.int64(c.wirelen[i]) - (q - p))
        c.ipver[i], c.src_lo[i], c.dst_lo[i] = ver, src_lo, dst_lo
        if ip_id:
            c.ip_id[i] = ip_id
        if frag:
            c.frag[i] = frag
        if src_hi or dst_hi:
            c.src_hi[i], c.dst_hi[i] = src_hi, dst_hi
        if err == ERR_NONE:
            c.proto[i], c.ip_len[i] = proto, tot
            if frag == FRAG_LATER:
                c.pay_off[i], c.pay_len[i] = l4, l4_len
            else:
                ok, sport, dport, seq, ack, flags, win, pay_off, pay_len, dns_qr = _transport(b, l4, end, proto, l4_len)
                if ok:
                    c.sport[i], c.dport[i], c.pay_off[i], c.pay_len[i] = sport, dport, pay_off, pay_len
                    if proto == TCP:
                        c.seq[i], c.ack[i], c.tcp_flags[i], c.win[i] = seq, ack, flags, win
                    if dns_qr:
                        c.dns_qr[i] = dns_qr
                else:
                    err = np.int64(ERR_TRANSPORT)  # (typed as _ip's: numba may take a literal else)
        c.status[i] = OK if err == ERR_NONE else MALFORMED
        c.error[i] = err


def decode(frames: Frames) -> Packets:
    """Decode every frame of a chunk into packet columns."""
    n = len(frames)
    cols = {name: np.zeros(n, dt) for name, dt in _DTYPES.items()}
    cols["ts"] = frames.ts
    cols["caplen"] = frames.caplen
    cols["wirelen"] = np.maximum(np.minimum(frames.wirelen, MAX_WIRELEN), frames.caplen)  # a record may lie
    pk = Packets(**cols)
    _decode(frames.buf, frames.offset, frames.linktype, pk)
    return pk
