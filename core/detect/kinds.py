"""The alert kinds: stable identifiers, default severity, MITRE ATT&CK for ICS technique and titles.

A kind's identifier never changes once shipped (SIEM rules key on it). README's alert table is
generated from this one (``mieruka alerts kinds``), so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("critical", "high", "medium", "low", "info")  # most severe first
STATUSES = ("new", "acknowledged", "resolved", "false_positive")
OPEN_STATUSES = ("new", "acknowledged")  # a repeat folds into an open alert of the same key


@dataclass(frozen=True)
class Kind:
    name: str
    severity: str
    technique: str  # ATT&CK for ICS technique id, e.g. T0858
    technique_name: str
    title_ja: str
    title_en: str
    when: str  # what triggers it (English; the README table)


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("new_device", "medium", "T0848", "Rogue Master", "未知の機器", "New device",
         "a MAC (local segment) or site IP not seen while learning"),
    Kind("new_link", "low", "T0886", "Remote Services", "未知の通信", "New communication link",
         "a pair of devices talking over a service not seen between them while learning"),
    Kind("new_ot_function", "high", "T0855", "Unauthorized Command Message", "未知の制御コマンド",
         "New OT function", "an OT function a pair did not use while learning — a pair never seen before "
         "included, so a new device writing to a PLC raises this (high) beside `new_link`"),
    Kind("plc_stop", "critical", "T0858", "Change Operating Mode", "PLC停止", "PLC stop",
         "S7 STOP, UMAS stop, FINS stop, SLMP remote stop, CIP or others where decoded"),
    Kind("plc_start", "high", "T0858", "Change Operating Mode", "PLC起動", "PLC start",
         "S7 START, UMAS start, FINS run, SLMP remote run, CIP or others where decoded"),
    Kind("plc_program_change", "critical", "T0843", "Program Download", "PLCプログラム変更",
         "PLC program change", "program/block download or upload, online edit"),
    Kind("firmware_change", "high", "T0857", "System Firmware", "ファームウェア変更", "Firmware change",
         "firmware update commands, or a device whose reported firmware changes"),
    Kind("device_change", "medium", "T0849", "Masquerading", "機器情報の変化", "Device change",
         "a device's model, hostname, OS or role changes"),
    Kind("cleartext_credentials", "medium", "T0859", "Valid Accounts", "平文の認証情報",
         "Cleartext credentials", "FTP, Telnet, HTTP Basic, RTSP Basic, MQTT, POP/IMAP/SMTP logins in clear"),
    Kind("default_credentials", "high", "T0812", "Default Credentials", "初期パスワードでのログイン",
         "Default credentials", "a login that succeeds with a vendor default (flag from the sensor)"),
    Kind("smbv1", "medium", "T0866", "Exploitation of Remote Services", "SMBv1の使用", "SMBv1 in use",
         "SMBv1 in use"),
    Kind("internet_exposure", "high", "T0883", "Internet Accessible Device", "インターネットとの通信",
         "Internet exposure", "a site device talks to a public address (inbound: higher severity)"),
    Kind("remote_access", "medium", "T0822", "External Remote Services", "リモートアクセス",
         "Remote access", "RDP, VNC, TeamViewer, AnyDesk, SSH or Telnet sessions into the site"),
    Kind("scan", "high", "T0846", "Remote System Discovery", "スキャン", "Scan",
         "one source probing many hosts or ports in a short window"),
    Kind("indicator_match", "high", "T0869", "Standard Application Layer Protocol", "脅威情報との一致",
         "Indicator match", "an IP, domain, JA3/JA4 or HASSH on an imported indicator list"),
    Kind("sensor_silent", "medium", "T0815", "Denial of View", "センサー無通信", "Sensor silent",
         "a sensor sends nothing for longer than its threshold"),
    Kind("new_flood", "high", "T0846", "Remote System Discovery", "新規の大量出現", "Flood of new things",
         "one batch shows more new devices, links, OT functions, device facts or alerts of one kind than the "
         "per-batch budget (`MIERUKA_DETECT_NEW_PER_BATCH`, default 2,000): the first are handled one by one, "
         "the rest only counted here and not learned — a scan, or a sensor sending forged data"),
)}


@dataclass(frozen=True)
class Finding:
    """What a detector saw in one batch: the engine folds findings into alerts.

    ``key`` names what repeats of this finding have in common (e.g. the pair and the function);
    findings of one tenant and sensor with the same kind and key fold into one open alert.
    """

    kind: str
    key: str
    ts: int  # µs since the epoch, data time of the first occurrence in the batch
    ts_last: int
    count: int = 1
    severity: str = ""  # empty: the kind's default
    src_ip: str = ""
    src_mac: str = ""
    dst_ip: str = ""
    dst_mac: str = ""
    protocol: str = ""
    details: tuple[tuple[str, str], ...] = ()  # (name, value) pairs shown to the analyst
    evidence: tuple[str, ...] = ()  # uids of the flows/events that show it (bounded by the engine)

    def effective_severity(self) -> str:
        return self.severity or KINDS[self.kind].severity


def markdown_table() -> str:
    """The kinds as README's Detections table (``mieruka alerts kinds``)."""
    lines = ["| kind | severity | when | ATT&CK for ICS | title (ja) |", "|---|---|---|---|---|"]
    lines += [f"| `{k.name}` | {k.severity} | {k.when} | {k.technique} {k.technique_name} | {k.title_ja} |"
              for k in KINDS.values()]
    return "\n".join(lines)
