"""Matching devices against the real CISA advisories in ../shared/advisories/csaf: devices just
inside and just outside each version range, vendor and model spellings as the ledger has them."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.vulns.csaf import read
from core.vulns.match import Catalogue, DeviceId
from core.vulns.versions import condition, firmware

CSAF = Path(__file__).resolve().parents[3] / "shared" / "advisories" / "csaf"
pytestmark = [pytest.mark.skipif(not CSAF.is_dir(), reason="../shared/advisories/csaf is not there"),
              pytest.mark.no_controlplane]  # nothing here uses one: left out of the PostgreSQL pass


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue(read(f) for f in sorted(CSAF.glob("*.json")))


def found(catalogue, vendor, model, fw="") -> dict[tuple[str, str], str]:
    """(advisory, cve) → confidence."""
    return {(m.advisory, m.cve): m.confidence for m in catalogue.match(DeviceId("d", vendor, model, fw))}


# vendor, model, firmware just inside, just outside, the advisory and CVE, confidence inside
EDGES = [
    ("Siemens AG", "6ES7 214-1AG40-0XB0", "V4.4.9", "V4.5.0", "ICSA-22-286-04", "CVE-2022-38465", "family"),
    ("Siemens AG", "6ES7214-1AG40-0XB0", "V4.2.2", "V4.2.3", "ICSA-18-282-04", "CVE-2018-13800", "family"),
    ("Telemechanique Electrique", "BMXP342020", "V2.80", "V2.90", "ICSA-17-054-03", "CVE-2017-6017", "family"),
    ("Rockwell Automation/Allen-Bradley", "1756-EN2T/D", "10.10", "10.11", "ICSA-18-310-02", "CVE-2018-17924", "exact"),
    ("Rockwell Automation/Allen-Bradley", "1756-EN2T/D", "10.009", "11.001", "ICSA-18-310-02", "CVE-2018-17924", "exact"),
    ("Hangzhou Hikvision Digital Technology Co.,Ltd.", "DS-2CD2032F-I", "V5.4.0 build 160530",
     "V5.4.0 build 160531", "ICSA-17-124-01", "CVE-2017-7921", "exact"),
    ("HIKVISION", "DS-2CD2142F-I", "V5.2.0 build 140721", "V5.2.0 build 140720", "ICSA-17-124-01", "CVE-2017-7923", "exact"),
    ("Mitsubishi Electric Corp.", "R04CPU", "39", "40", "ICSA-20-161-02", "CVE-2020-13238", "exact"),
    ("OMRON Corporation", "CP1L-EM40DT-D", "1.09", "1.10", "ICSA-22-179-02", "CVE-2022-31204", "family"),
    ("Omron Tateisi Electronics Co.", "CJ2M-CPU31", "2.0", "2.1", "ICSA-22-179-02", "CVE-2022-31206", "family"),
    ("Moxa Inc.", "NPort 5110", "2.4", "2.5", "ICSA-17-320-01", "CVE-2017-16715", "exact"),
    ("Moxa Inc.", "NPort 5150", "3.7", "3.8", "ICSA-17-320-01", "CVE-2017-16715", "exact"),
    ("Rockwell Automation/Allen-Bradley", "1756-L83E/B", "33.16", "33.17", "ICSA-24-284-20", "CVE-2024-6207", "family"),
    ("Siemens AG", "6ES7 315-2EH14-0AB0", "V3.2.15", "V3.2.16", "ICSA-18-079-02", "CVE-2018-4843", "exact"),
    ("Siemens AG", "6ES7 315-2EH14-0AB0", "V3.2.15", "V3.2.16", "ICSA-19-043-04", "CVE-2018-16561", "family"),
    ("Axis Communications AB", "AXIS A1001", "1.65.4", "1.65.5", "ICSA-23-206-01", "CVE-2023-21406", "exact"),
]


@pytest.mark.parametrize("vendor, model, inside, outside, advisory, cve, confidence", EDGES,
                         ids=[f"{e[4]}-{e[1]}-{e[2]}" for e in EDGES])
def test_just_inside_and_just_outside(catalogue, vendor, model, inside, outside, advisory, cve, confidence):
    assert found(catalogue, vendor, model, inside).get((advisory, cve)) == confidence
    assert (advisory, cve) not in found(catalogue, vendor, model, outside)


def test_rockwell_series_d_is_not_affected_through_the_series_a_entry(catalogue):
    """EN2T Series A-C are affected in every version, Series D up to 10.10: a fixed D is clean."""
    assert found(catalogue, "Rockwell Automation", "1756-EN2T/D", "11.001") == {}
    assert found(catalogue, "Rockwell Automation", "1756-EN2T/C", "11.001") == {
        ("ICSA-18-310-02", "CVE-2018-17924"): "exact"}


def test_cip_revision_is_rockwells_three_digit_minor():
    """A CIP List Identity revision 33.11 is V33.011, not 33.110."""
    assert firmware("33.11", "rockwell") == firmware("V33.011", "rockwell")
    assert condition("<V33.017_V34.014_V35.013_V36.011", "rockwell").contains(firmware("33.11", "rockwell"))
    assert not condition("<V33.017_V34.014_V35.013_V36.011", "rockwell").contains(firmware("34.14", "rockwell"))
    assert condition("28.011 | 28.012 | 28.013", "rockwell").contains(firmware("28.12", "rockwell"))


def test_schneider_minor_is_a_two_digit_fraction():
    assert firmware("v2.8", "schneider") == firmware("V2.80", "schneider")
    assert firmware("V2.30", "schneider") < firmware("V2.9", "schneider")


def test_dahua_model_patterns_without_firmware_are_family(catalogue):
    hits = found(catalogue, "Zhejiang Dahua Technology Co.,Ltd.", "DH-IPC-HDW1230S")
    assert hits == {("ICSA-17-124-02", "CVE-2017-7925"): "family", ("ICSA-17-124-02", "CVE-2017-7927"): "family"}
    assert found(catalogue, "Dahua", "DH-IPC-HDW5231R") == {}  # a series the advisory does not list


def test_omron_square_wildcards(catalogue):
    """icsa-23-073-01 writes models as ``CP1L-EM □ □ D □ - □`` (every version affected)."""
    assert found(catalogue, "OMRON", "CP1L-EM40DT-D", "1.10")[("ICSA-23-073-01", "CVE-2023-0811")] == "exact"
    assert found(catalogue, "OMRON", "CJ2M-CPU31", "2.1")[("ICSA-23-073-01", "CVE-2023-0811")] == "exact"
    assert found(catalogue, "OMRON", "CS1D-CPU67HA", "4.1")[("ICSA-23-073-01", "CVE-2023-0811")] == "exact"
    assert ("ICSA-23-073-01", "CVE-2023-0811") not in found(catalogue, "OMRON", "CP1W-CIF41", "1.0")


def test_moxa_exact_versions_only(catalogue):
    for listed in ("2.2", "2.4", "2.6", "2.7"):
        assert ("ICSA-17-320-01", "CVE-2017-14028") in found(catalogue, "Moxa", "NPort 5110", listed)
    for unlisted in ("2.3", "2.5", "2.8"):
        assert found(catalogue, "Moxa", "NPort 5110", unlisted) == {}


def test_siemens_only_affected_by_narrows_the_cves(catalogue):
    """icsa-19-344-06: S7-1200 from V4.4.0 on is affected by CVE-2019-10943 only."""
    hits = found(catalogue, "Siemens AG", "6ES7 214-1AG40-0XB0", "V4.4.0")
    assert hits.get(("ICSA-19-344-06", "CVE-2019-10943")) == "family"
    assert ("ICSA-19-344-06", "CVE-2019-10929") not in hits
    assert ("ICSA-19-344-06", "CVE-2019-10929") in found(catalogue, "Siemens AG", "6ES7 214-1AG40-0XB0", "V4.3.1")


def test_unknown_firmware_matches_the_family_never_exact(catalogue):
    hits = found(catalogue, "Rockwell Automation/Allen-Bradley", "1756-EN2T/D", "")
    assert hits == {("ICSA-18-310-02", "CVE-2018-17924"): "family"}


@pytest.mark.parametrize("vendor, model", [
    ("Siemens AG", ""), ("Rockwell Automation/Allen-Bradley", ""), ("Hikvision", "   "),
    ("Siemens AG", "SCALANCE X208"), ("Cisco Systems", "1756-L83E/B"), ("", "unknown box"),
])
def test_vendor_alone_or_unknown_models_never_match(catalogue, vendor, model):
    assert found(catalogue, vendor, model, "1.0") == {}


def test_catalogue_number_names_the_vendor_when_none_is_known(catalogue):
    assert found(catalogue, "", "BMXP342020", "V2.80")[("ICSA-17-054-03", "CVE-2017-6017")] == "family"
