"""OPC UA binary decoder on real captures: endpoint, security policy and mode, services, encryption."""

from __future__ import annotations

from sensor.decode import opcua


def test_session_services_and_security(analyse):
    run = analyse("icsnpp/opcua-binary/traces/open62541_client-server_mainloop.pcap")
    actions = run.actions("opcua")
    assert actions[:3] == ["Hello", "OpenSecureChannel", "GetEndpoints"]
    assert {"CreateSession", "ActivateSession", "Browse", "Read", "Write", "Call", "CloseSession"} <= set(actions)
    channel = next(e for e in run.events if e["action"] == "OpenSecureChannel")
    assert channel["attrs"]["security_policy"].endswith("#None") and channel["attrs"]["security_mode"] == "None"
    assert run.facts("::1")["opcua_endpoint"] == "opc.tcp://localhost:4840"
    assert {f["service"] for f in run.flows if f["resp_p"] == 4840} == {"opcua"} and not run.errors


def test_encrypted_channels_are_named_not_decoded(analyse):
    run = analyse("icsnpp/opcua-binary/pcaps/python_opcua-client-server_encrypted.pcap")
    policies = [e["attrs"]["security_policy"] for e in run.events if e["action"] == "OpenSecureChannel"]
    assert policies[-1].endswith("#Basic256Sha256") and not run.errors
    assert run.actions("opcua")[-1] == "OpenSecureChannel"  # nothing decoded after it


def test_a_capture_without_the_handshake(analyse):
    run = analyse("icsnpp/opcua-binary/traces/open62541_client-server_mainloop-no-handshake.pcap")
    assert "CreateSession" in run.actions("opcua") and run.flows[0]["resp_p"] == 4840


def test_detection():
    hello = bytes.fromhex("48454c463c00000000000000ffff0000ffff00000000000000000000" "1c0000006f70632e7463703a2f2f6c6f63616c686f73743a34383430")
    assert opcua.detect(hello[: 8 + 20 + 4 + 24]) is False  # size field says 60, fewer bytes here
    assert opcua.detect(bytes.fromhex("41434b461c000000") + bytes(20))
    assert not opcua.detect(b"GET / HTTP/1.1\r\n\r\n")
