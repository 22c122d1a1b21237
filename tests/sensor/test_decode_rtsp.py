"""RTSP decoder on real camera sessions: methods, CSeq pairing, 401 challenges, SDP codecs,
interleaved RTP sampled and then left alone; credentials flagged, never kept."""

from __future__ import annotations

from sensor.decode import rtp, rtsp
from sensor.decode.spec import Event, Session

CAMERA = "camera/rtspstreampcapparser/rtsp.pcap"  # an NVR pulling H.265 + PCMA interleaved on 554


def test_a_camera_session_with_a_digest_challenge(analyse):
    run = analyse(CAMERA)
    calls = [(e["action"], e["status"], e["attrs"]["cseq"]) for e in run.events if e["protocol"] == "rtsp"]
    assert calls == [("DESCRIBE", "401", "22"), ("DESCRIBE", "200", "23"), ("SETUP", "200", "24"),
                     ("SETUP", "200", "25"), ("PLAY", "200", "26"), ("OPTIONS", "200", "27")]
    challenged, described, video = (e["attrs"] for e in run.events[:3])
    assert (challenged["auth_required"], challenged["www_authenticate"]) == ("true", "Digest")
    assert described["auth_scheme"] == "Digest" and described["codecs"] == "H265,PCMA"
    assert video["transport"] == "RTP/AVP/TCP;unicast;interleaved=0-1"
    assert described["url"] == "rtsp://172.168.1.17:554/unicast/c296/s0/live/forward"
    assert [f["service"] for f in run.flows] == ["rtsp"]


def test_interleaved_media_is_sampled_then_the_flow_is_left_alone(analyse, decoded_pdus):
    run = analyse(CAMERA)
    [stream] = [e for e in run.events if e["protocol"] == "rtp"]
    assert {k: stream["attrs"][k] for k in ("ssrc", "payload_type", "codec", "clock_rate", "lost")} == {
        "ssrc": "0x7fff00ff", "payload_type": "96", "codec": "H265", "clock_rate": "90000", "lost": "0"}
    assert int(stream["attrs"]["sampled"]) <= rtp.SAMPLE
    assert len(decoded_pdus) <= rtp.SAMPLE + 20  # of 1027 packets, nearly all video


def test_ndpis_rtsp_flows_name_client_and_server_software(analyse):
    run = analyse("camera/ndpi/rtsp.pcap")
    assert {f["service"] for f in run.flows if f["service"]} == {"rtsp"}
    assert run.facts("10.2.2.2")["software"] == "VLC/3.0.12"
    assert run.facts("10.1.1.10")["client_software"] == "LibVLC/3.0.16 (LIVE555 Streaming Media v2016.11.28)"
    setups = [e for e in run.events if e["action"] == "SETUP"]
    assert setups and all(e["attrs"]["transport"].startswith("RTP/AVP;unicast;client_port=") for e in setups)


def test_responses_pair_by_cseq_and_credentials_are_not_kept():
    session = Session()
    first = rtsp.decode(b"OPTIONS rtsp://admin:12345@cam/live RTSP/1.0\r\nCSeq: 7\r\n"
                        b"Authorization: Basic YWRtaW46MTIzNDU=\r\n\r\n", True, session)
    second = rtsp.decode(b"DESCRIBE rtsp://cam/live RTSP/1.0\r\nCSeq: 8\r\n\r\n", True, session)
    assert rtsp.decode(b"RTSP/1.0 404 Not Found\r\nCSeq: 8\r\nServer: Hikvision-Webs\r\n\r\n", False, session)[0].value \
        == "Hikvision-Webs"
    rtsp.decode(b"RTSP/1.0 200 OK\r\nCSeq: 7\r\n\r\n", False, session)
    options, describe = first[0], second[0]
    assert isinstance(options, Event) and (options.status, describe.status) == ("200", "404")
    assert options.attrs["url"] == "rtsp://cam/live" and options.attrs["cleartext_credentials"] == "true"
    assert "12345" not in str(options.attrs) and "YWRtaW46MTIzNDU" not in str(options.attrs)


def test_framing_cuts_messages_and_interleaved_frames():
    frame = b"$\x00\x00\x0c" + bytes(12)
    reply = b"RTSP/1.0 200 OK\r\nCSeq: 5\r\nContent-Length: 3\r\n\r\nv=0"
    assert rtsp.frame(frame + reply) == 16 and rtsp.frame(reply + frame) == len(reply)
    assert rtsp.frame(b"$\x00") == 0
    assert rtsp.detect(b"SETUP rtsp://cam/track1 RTSP/1.0\r\nCSeq: 3\r\n\r\n") and rtsp.detect(b"RTSP/1.0 200 OK\r\n")
    assert not rtsp.detect(b"GET / HTTP/1.1\r\n\r\n")


def _digest_request(password: str, cseq: int) -> bytes:
    import hashlib

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    url, realm, nonce = "rtsp://10.0.0.51:554/axis-media/media.amp", "AXIS_ACCC8E", "5f1a9e"
    response = md5(f"{md5(f'root:{realm}:{password}')}:{nonce}:{md5(f'DESCRIBE:{url}')}")
    return (f"DESCRIBE {url} RTSP/1.0\r\nCSeq: {cseq}\r\nAuthorization: Digest username=\"root\", "
            f"realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{url}\", response=\"{response}\"\r\n\r\n").encode()


def test_a_digest_login_with_a_default_password_is_recognised_and_not_kept():
    session = Session()
    [default] = rtsp.decode(_digest_request("pass", 3), True, session)  # Axis's old root password
    [own] = rtsp.decode(_digest_request("Zq8-unique", 4), True, session)
    rtsp.decode(b"RTSP/1.0 200 OK\r\nCSeq: 3\r\n\r\n", False, session)
    rtsp.decode(b"RTSP/1.0 200 OK\r\nCSeq: 4\r\n\r\n", False, session)
    assert default.attrs["default_credentials"] == "true" and "default_credentials" not in own.attrs
    assert "cleartext_credentials" not in default.attrs and "pass" not in str(default.attrs.values())
