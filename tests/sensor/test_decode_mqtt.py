"""MQTT against Zeek's mqtt logs for the same trace; credentials flagged, never kept; nDPI's
captures with MQTT 3.1.1, QoS 1 and a flow whose capture starts mid-stream."""

from __future__ import annotations

from sensor.decode import mqtt
from sensor.decode.spec import Session

BASELINE = "zeek/Baseline/scripts.base.protocols.mqtt.mqtt"


def zeek_rows(path) -> list[dict[str, str]]:
    lines = path.read_text().splitlines()
    names = next(line for line in lines if line.startswith("#fields")).split("\t")[1:]
    return [dict(zip(names, line.split("\t"))) for line in lines if not line.startswith("#")]


def test_connect_publish_and_subscribe_agree_with_zeek(analyse, corpus):
    run = analyse("zeek/Traces/mqtt.pcap")
    ours = {action: [e for e in run.events if e["action"] == action] for action in ("connect", "publish", "subscribe")}
    connects = [(r["client_id"], r["connect_status"], r["proto_name"], r["proto_version"])
                for r in zeek_rows(corpus / BASELINE / "mqtt_connect.log")]
    assert [(e["attrs"]["client_id"], e["status"], e["attrs"]["proto_name"], e["attrs"]["proto_version"])
            for e in ours["connect"]] == connects
    publishes = sorted((r["from_client"] == "T", r["retain"] == "T", r["qos"], r["topic"], r["payload_len"])
                       for r in zeek_rows(corpus / BASELINE / "mqtt_publish.log"))
    assert sorted((e["attrs"]["from_client"] == "true", e["attrs"].get("retain") == "true", e["attrs"]["qos"],
                   e["attrs"]["topic"], e["attrs"]["payload_len"]) for e in ours["publish"]) == publishes
    [subscribe] = zeek_rows(corpus / BASELINE / "mqtt_subscribe.log")
    assert [(e["attrs"]["topics"], e["attrs"]["qos_levels"], e["attrs"]["granted_qos"]) for e in ours["subscribe"]] == [
        (subscribe["topics"], subscribe["qos_levels"], subscribe["granted_qos_level"])]
    assert {f["service"] for f in run.flows} == {"mqtt"} and not run.errors


def test_credentials_are_flagged_not_kept(analyse, corpus):
    run = analyse("ndpi/mqtt.pcap")
    connect = next(e for e in run.events if e["action"] == "connect")
    assert {k: connect["attrs"][k] for k in ("username", "password", "cleartext_credentials")} == dict.fromkeys(
        ("username", "password", "cleartext_credentials"), "true")
    secret = (corpus / "ndpi/mqtt.pcap").read_bytes()
    for event in run.events:  # no value of ours is a credential the client sent
        assert all(len(v) < 4 or v.encode() not in secret or k in ("client_id", "topic", "topics", "proto_name")
                   for k, v in event["attrs"].items())
    assert ("mqtt_client_id", "cbaabcbabacbbbbbaaaaab") in {(o["attribute"], o["value"]) for o in run.observations}


def test_qos_1_publishes_are_answered(analyse):
    run = analyse("ndpi/coap_mqtt.pcap")
    acked = [e for e in run.events if e["action"] == "publish" and e["attrs"]["qos"] == "at least once"]
    answered = [e for e in acked if e["status"] == "OK"]  # the capture ends before the last PUBACKs
    assert len(acked) - len(answered) == 4 and all("rtt" in e["attrs"] for e in answered)


def test_detection():
    connect = bytes.fromhex("101000044d5154540402003c0004") + b"abcd"
    assert mqtt.detect(connect) and mqtt.frame(connect) == len(connect)
    assert mqtt.detect(bytes.fromhex("20020000"))  # CONNACK
    assert not mqtt.detect(b"GET / HTTP/1.1\r\n\r\n") and not mqtt.detect(bytes.fromhex("c000"))  # PINGREQ alone
    assert not mqtt.detect(bytes.fromhex("300500024101ff"))  # a topic with a control character


def test_a_subscribe_answer_lists_at_most_max_granted_codes():
    """A SUBACK of thousands of return codes (hostile: one per topic of the request) lists MAX_GRANTED,
    within an attribute's bound; a real one all of them."""
    session = Session("tcp")
    for codes in (bytes([0, 1, 2, 0x80]), bytes(range(256)) * 8):
        body = b"\x00\x07" + codes
        size, length = len(body), b""
        while True:  # the remaining length, 7 bits a byte
            length += bytes([size & 0x7F | (0x80 if size > 0x7F else 0)])
            size >>= 7
            if not size:
                break
        (event,) = mqtt.decode(b"\x90" + length + body, False, session)
        assert event.attrs["granted_qos"].split(",") == [str(code) for code in codes[: mqtt.MAX_GRANTED]]
        assert len(event.attrs["granted_qos"]) <= 1024  # (test_decode_fuzz's bound on an attribute)
