"""Secure Camera Cloud (seed 000): network and thermal camera types, whole calendar months, a 12-month
minimum period, 3 months' termination notice and the 72-hour outage exemption."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction

from tariff.calendar import BusinessCalendar, Month, add_months, tokyo_date
from tariff.charges import Charges, Terms, read_charges
from tariff.decisions import (
    SCC_SURCHARGE_TAXED,
    outage_during_suspension,
    scc_early_termination_months,
    scc_outage_credit,
)
from tariff.fields import Fields
from tariff.invoice import Line
from tariff.plans.common import read_termination

PLAN = "secure-camera-cloud"
CAMERA_TYPES = ("network", "thermal")  # Art. 3: one contract per type (Art. 9)
# 別紙 料金表, ex-tax yen.
SETUP_FEE = 15_000  # 表1-1 基本設定費, per contract
IP_VPN_INITIAL_FEE = 3_000  # 表1-1 IP-VPN ID初期費, per ID beyond the included ones
INCLUDED_IP_VPN_IDS = 2  # ※1 IP-VPN IDは標準2ID提供
BASIC_FEE = {"network": 5_000, "thermal": 0}  # 表1-2 サービス基本料 (network type only)
CAMERA_FEE = {"network": 4_500, "thermal": 5_000}  # 表1-2 / 表1-3 利用料, per camera
IP_VPN_FEE = 1_500  # IP-VPN ID利用料, per ID beyond the included ones
STORAGE_FEE = 2_000  # 追加ストレージ利用料, per unit (7 days/network camera, 30 days/thermal camera)
MINIMUM_MONTHS = 12  # Art. 11-1: 利用開始日の翌月から1年間
NOTICE_MONTHS = 3  # Art. 19: 解除日の3か月前までに
LATE_INTEREST_RATE = Fraction(145, 1000)  # Art. 38: 年 14.5%
TERMS = Terms(
    "scc",
    interest_rate=LATE_INTEREST_RATE,
    surcharge_multiple=1,  # Art. 37: その免れた額と同額を割増金として
    surcharge_taxed=SCC_SURCHARGE_TAXED,
)
OUTAGE_BLOCK_HOURS = 72  # Art. 34-5: only whole multiples of 72 hours count …
OUTAGE_BLOCK_DAYS = 3  # … at one day per 24 hours


@dataclass(frozen=True)
class Outage:
    aware_at: datetime  # when the provider became aware (そのことを当社が知った時刻)
    restored_at: datetime

    @property
    def exempt_days(self) -> int:
        """Art. 34-5: floor(hours / 72) × 3 days of continuous total unavailability."""
        blocks = (self.restored_at - self.aware_at).total_seconds() // (OUTAGE_BLOCK_HOURS * 3600)
        return int(blocks) * OUTAGE_BLOCK_DAYS


@dataclass(frozen=True)
class SecureCameraCloudContract:
    contract_id: str
    camera_type: str
    contract_date: date
    installation_date: date
    service_start_date: date
    cameras: int
    ip_vpn_ids: int
    storage_units: int
    termination: date | None  # in effect, after the notice rule
    outages: tuple[Outage, ...]
    suspensions: tuple[tuple[date, date], ...]  # customer-fault suspensions (Art. 31), inclusive
    charges: Charges

    def damages_cap(self, cause: date) -> int:
        """Art. 48 (last paragraph): the contract's monthly fee when the cause arose (the counts a
        contract file holds do not change over time)."""
        return sum(line.amount for line in self._monthly_lines())

    def lines(self, month: Month) -> list[Line]:
        lines = self._initial_lines() if month == Month.of(self.contract_date) else []
        monthly = self._monthly_lines()
        total = sum(line.amount for line in monthly)
        ended = self.termination is not None and month > Month.of(self.termination)
        # Art. 35(1)(2): billed from the month after installation, the termination month in full.
        if month > Month.of(self.installation_date) and not ended:
            lines += monthly
            exempt_days = self._exempt_days(month)
            if credit := scc_outage_credit(total, exempt_days, month):
                why = f"料金免除 outage exemption, {exempt_days}/{month.days} days (Art. 34-5)"
                lines.append(Line.priced("scc.outage_credit", why, 1, -credit))
        if self.termination is not None and month == Month.of(self.termination):
            # Art. 11-1: the minimum period runs 12 months from the month after the service start.
            minimum_last = Month.of(self.service_start_date).plus(MINIMUM_MONTHS)
            if remaining := scc_early_termination_months(minimum_last, month):
                why = f"最低利用期間 minimum period, {remaining} remaining month(s) (Art. 11-3)"
                lines.append(Line.priced("scc.early_termination", why, remaining, total))
        return lines

    def _initial_lines(self) -> list[Line]:
        """Owed when the contract is formed, used or not (Art. 34-2)."""
        return _nonzero(
            [
                Line.priced("scc.setup", "基本設定費 basic setup fee", 1, SETUP_FEE),
                Line.priced(
                    "scc.ip_vpn_initial",
                    "IP-VPN ID初期費 IP-VPN ID initial fee",
                    self._extra_ids,
                    IP_VPN_INITIAL_FEE,
                ),
            ]
        )

    def _monthly_lines(self) -> list[Line]:
        kind = self.camera_type
        return _nonzero(
            [
                Line.priced(
                    "scc.basic",
                    "サービス基本料 service basic fee",
                    1 if BASIC_FEE[kind] else 0,
                    BASIC_FEE[kind],
                ),
                Line.priced(
                    "scc.cameras",
                    f"セキュアカメラクラウドサービス利用料 {kind} camera usage",
                    self.cameras,
                    CAMERA_FEE[kind],
                ),
                Line.priced("scc.ip_vpn", "IP-VPN ID利用料 IP-VPN ID fee", self._extra_ids, IP_VPN_FEE),
                Line.priced(
                    "scc.storage", "追加ストレージ利用料 additional storage", self.storage_units, STORAGE_FEE
                ),
            ]
        )

    @property
    def _extra_ids(self) -> int:
        return max(0, self.ip_vpn_ids - INCLUDED_IP_VPN_IDS)

    def _exempt_days(self, month: Month) -> int:
        """Exempt days of the outages that ended in ``month`` (the month the credit goes to)."""
        return sum(
            outage.exempt_days
            for outage in self.outages
            if Month.of(tokyo_date(outage.restored_at)) == month
            and not outage_during_suspension(
                tokyo_date(outage.aware_at), tokyo_date(outage.restored_at), self.suspensions
            )
        )


def _nonzero(lines: list[Line]) -> list[Line]:
    return [line for line in lines if line.quantity]


def parse(fields: Fields, contract_id: str, calendar: BusinessCalendar) -> SecureCameraCloudContract:
    camera_type = fields.choice("camera_type", CAMERA_TYPES)
    contract_date = fields.date("contract_date")
    installed = fields.date("installation_date")
    if installed < contract_date:
        raise fields.error("installation_date", f"{installed} is before contract_date {contract_date}")
    # 利用開始日 defaults to the installation date (spec §2).
    started = fields.date("service_start_date", required=False) or installed
    if started < installed:
        raise fields.error("service_start_date", f"{started} is before installation_date {installed}")
    termination, _ = read_termination(
        fields, started, "the service start date", lambda notice: add_months(notice, NOTICE_MONTHS)
    )
    counts = {key: fields.count(key) for key in ("cameras", "ip_vpn_ids", "storage_units")}

    outages = []
    for item in fields.items("outages"):
        outage = Outage(item.moment("aware_at"), item.moment("restored_at"))
        item.done()
        if outage.restored_at <= outage.aware_at:
            raise item.error("restored_at", "must be after aware_at")
        outages.append(outage)
    suspensions = []
    for item in fields.items("suspensions"):
        start, end = item.date("start"), item.date("end")
        item.done()
        if end < start:
            raise item.error("end", f"{end} is before start {start}")
        suspensions.append((start, end))
    return SecureCameraCloudContract(
        contract_id,
        camera_type,
        contract_date,
        installed,
        started,
        termination=termination,
        outages=tuple(outages),
        suspensions=tuple(suspensions),
        charges=read_charges(fields, TERMS, contract_date),
        **counts,
    )
