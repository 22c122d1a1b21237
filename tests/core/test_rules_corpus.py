"""The stateless rules (core/detect/rules) on real captures through the real pipeline: the corpus
captures of attacks or unusual operations raise the kinds they show, with the right severity,
addresses and evidence; plain polling raises nothing above ``info``. Prints the table."""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

from core.detect.kinds import KINDS, SEVERITIES, Finding
from core.detect.rules import credentials, exposure, plc, remote, scan, smb
from core.detect.site import Site
from sensor.meter import pipeline

pytestmark = pytest.mark.no_controlplane  # nothing here uses one: left out of the PostgreSQL pass

FAMILIES = (plc, credentials, smb, exposure, remote, scan)

# capture → the kinds that must fire (nothing of these families shows a DNP3 write or select/operate:
# that is new_ot_function, a baseline kind, listed with no kinds so the table shows them)
ATTACKS = {
    "iti/s7/step7_s300_stop.pcapng": {"plc_stop"},
    "icsnpp/s7comm/traces/snap7.pcap": {"plc_stop", "plc_start", "plc_program_change"},
    "iti/s7/step7_s300_download.pcapng": {"plc_program_change"},
    "ics-pcap/S7/s7comm_downloading_block_db1/s7comm_downloading_block_db1.pcap": {"plc_program_change"},
    "ndpi/umas.pcap": {"plc_program_change"},
    "iti/EthernetIP/cip_stop_plc.pcap": {"plc_stop"},
    "iti/EthernetIP/cip_start_plc.pcap": {"plc_start"},
    "ics-pcap/EIP/EIP-RemoteModeChangeAttempt/EIP-RemoteModeChangeAttempt.pcap": {"plc_stop", "smbv1"},
    "ics-pcap/EIP/EIP-RebootorRestart/EIP-RebootorRestart.pcap": {"plc_stop", "plc_start"},
    "ics-pcap/EIP/EIP-FirmwareChange/EIP-FirmwareChange.pcap": {"firmware_change"},
    "ics-pcap/EIP/EIP-FirmwareChangeFailure/EIP-FirmwareChangeFailure.pcap": {"firmware_change"},
    "icsnpp/omron-fins/traces/omron.pcap": {"plc_stop", "plc_start", "plc_program_change"},
    "ics-pcap/MODBUS/MODBUS-TestDataPart2/MODBUS-TestDataPart2.pcap": {"firmware_change", "plc_program_change"},
    "ics-pcap/DNP3/DNP3-TestDataPart1/DNP3-TestDataPart1.pcap": {"plc_stop"},
    "zeek/Traces/ftp/ipv4.pcap": {"cleartext_credentials"},
    "ndpi/mqtt.pcap": {"cleartext_credentials"},
    "zeek/Traces/snmp/snmpv1_get.pcap": {"default_credentials"},
    "zeek/Traces/modbus/modbus-and-non-modbus-p502.pcap": {"internet_exposure", "remote_access"},
    "zeek/Traces/ssh/ssh_kex_curve25519.pcap": {"remote_access"},
    "zeek/Traces/telnet-auth-missing-name.pcap": {"remote_access"},
    "ics-pcap/DNP3/DNP3-Write/DNP3-Write.pcap": set(),
    "ics-pcap/DNP3/DNP3-SelectOperate/DNP3-SelectOperate.pcap": set(),
}
# plain polling on site addresses: nothing above info may fire
POLLING = (
    "ndpi/modbus.pcap", "iti/ModbusTCP/modbus_test.pcap",
    "ics-pcap/S7/s7comm_varservice_libnodavedemo/s7comm_varservice_libnodavedemo.pcap",
    "ics-pcap/S7/S7-1511_db2_var1_HMI/S7-1511_db2_var1_HMI.pcap", "ics-pcap/DNP3/DNP3-Read/DNP3-Read.pcap",
    "ndpi/IEC104.pcap", "ndpi/bacnet.pcap", "ndpi/cip_io.pcap", "ndpi/ethernetIP.pcap", "ndpi/opc-ua.pcap",
    "icsnpp/enip/traces/enip_cip_example.pcap", "iti/C37.118/C37.118_1PMU_TCP.pcap", "ndpi/profinet-io-le.pcap",
    "nttcom/CCLinkFieldBasic/Traces/cclink_ief_basic_only.pcap", "iti/MELSEC/melsoft_UDP_clean_1.pcap",
    "icsnpp/bacnet/traces/bacnet_example.pcap", "ics-pcap/S7/s7comm_program_blocklist_onlineview/"
    "s7comm_program_blocklist_onlineview.pcap",
)


@cache
def run(path: Path) -> tuple[list[Finding], frozenset[str]]:
    """Every family's findings on each batch of the capture, and every flow uid the batches hold."""
    found, uids = [], set()
    for batch in pipeline.iter_batches([path], 60.0):
        uids.update(batch.tables["flows"].column("uid").to_pylist())
        for family in FAMILIES:
            found += family.rules(batch, Site())
    return found, frozenset(uids)


def _table(corpus: Path, names) -> dict[str, dict[str, str]]:
    """capture → kind → most severe severity seen."""
    table = {}
    for name in names:
        worst: dict[str, str] = defaultdict(lambda: "info")
        for f in run(corpus / name)[0]:
            worst[f.kind] = min(worst[f.kind], f.effective_severity(), key=SEVERITIES.index)
        table[name] = dict(worst)
    return table


def _print(title: str, table: dict[str, dict[str, str]]) -> None:
    print(f"\n{title}")
    for name, kinds in table.items():
        shown = ", ".join(f"{k} ({s})" for k, s in sorted(kinds.items())) or "—"
        print(f"  {name:78s} {shown}")


def test_attack_captures_raise_their_kinds(corpus):
    table = _table(corpus, ATTACKS)
    _print("capture → kinds (most severe severity)", table)
    for name, expected in ATTACKS.items():
        assert expected <= set(table[name]), name
    assert {k for kinds in table.values() for k in kinds} == {
        "plc_stop", "plc_start", "plc_program_change", "firmware_change", "cleartext_credentials",
        "default_credentials", "smbv1", "internet_exposure", "remote_access"}


def test_plain_polling_raises_nothing_above_info(corpus):
    table = _table(corpus, POLLING)
    _print("plain polling → kinds", table)
    assert all(severity == "info" for kinds in table.values() for severity in kinds.values()), table


def _only(corpus, name: str, kind: str) -> tuple[list[Finding], frozenset[str]]:
    found, uids = run(corpus / name)
    return [f for f in found if f.kind == kind], uids


def test_s7_stop_names_the_workstation_and_the_plc(corpus):
    [stop], uids = _only(corpus, "iti/s7/step7_s300_stop.pcapng", "plc_stop")
    assert (stop.src_ip, stop.dst_ip, stop.protocol) == ("134.249.62.199", "134.249.61.163", "s7comm")
    assert stop.src_mac == "00:0c:29:6e:5d:01" and stop.dst_mac
    assert stop.effective_severity() == "critical" == KINDS["plc_stop"].severity
    assert stop.evidence and set(stop.evidence) <= uids
    assert stop.key == "s7comm:134.249.62.199>134.249.61.163"
    assert ("status", "OK") in stop.details


def test_umas_download_folds_into_one_finding_per_pair(corpus):
    [download], uids = _only(corpus, "ndpi/umas.pcap", "plc_program_change")
    assert download.count == 55  # INITIALIZE_DOWNLOAD, 53 DOWNLOAD_BLOCK, END_STRATEGY_DOWNLOAD
    assert download.protocol == "modbus" and set(download.evidence) <= uids
    assert download.ts <= download.ts_last


def test_controlflash_firmware_update(corpus):
    [update], uids = _only(corpus, "ics-pcap/EIP/EIP-FirmwareChange/EIP-FirmwareChange.pcap", "firmware_change")
    assert (update.src_ip, update.dst_ip, update.protocol) == ("192.168.10.120", "192.168.10.105", "cip")
    assert update.count > 5000 and update.effective_severity() == "high" and set(update.evidence) <= uids


def test_snmp_default_community_answered(corpus):
    found, _ = _only(corpus, "zeek/Traces/snmp/snmpv1_get.pcap", "default_credentials")
    assert {(f.src_ip, f.dst_ip, f.protocol) for f in found} == {("172.31.19.54", "172.31.19.73", "snmp")}
    assert all(f.effective_severity() == "high" for f in found)


def test_ftp_password_in_clear(corpus):
    [login], uids = _only(corpus, "zeek/Traces/ftp/ipv4.pcap", "cleartext_credentials")
    assert login.protocol == "ftp" and ("action", "PASS") in login.details and set(login.evidence) <= uids


def test_inbound_from_the_internet_is_critical(corpus):
    found, uids = _only(corpus, "zeek/Traces/modbus/modbus-and-non-modbus-p502.pcap", "internet_exposure")
    assert found and all(f.effective_severity() == "critical" for f in found)
    assert all(f.dst_ip.startswith("192.168.10.") and Site().is_public(f.src_ip) for f in found)
    assert all(("direction", "inbound") in f.details and set(f.evidence) <= uids for f in found)


def test_outbound_to_the_internet_is_high(corpus):
    found, _ = _only(corpus, "zeek/Traces/ntp/ntp.pcap", "internet_exposure")
    assert found and all(f.effective_severity() == "high" and ("direction", "outbound") in f.details
                         for f in found)
    assert all(Site().is_site(f.src_ip) and Site().is_public(f.dst_ip) for f in found)


def test_smbv1_session_and_announcements(corpus):
    found, _ = _only(corpus, "ics-pcap/EIP/EIP-RemoteModeChangeAttempt/EIP-RemoteModeChangeAttempt.pcap", "smbv1")
    severities = {f.key.split(":")[0]: f.effective_severity() for f in found}
    assert severities["smb"] == "medium" and severities["announcement"] == "info"


def test_ssh_into_the_site_from_inside(corpus):
    [ssh], _ = _only(corpus, "zeek/Traces/ssh/ssh_kex_curve25519.pcap", "remote_access")
    assert ssh.protocol == "ssh" and ssh.effective_severity() == "medium" and ("from", "site") in ssh.details


def test_rdp_from_the_internet_is_high(corpus):
    [rdp], uids = _only(corpus, "zeek/Traces/modbus/modbus-and-non-modbus-p502.pcap", "remote_access")
    assert rdp.protocol == "rdp" and rdp.effective_severity() == "high" and ("from", "internet") in rdp.details
    assert Site().is_public(rdp.src_ip) and Site().is_site(rdp.dst_ip) and set(rdp.evidence) <= uids
