"""``mieruka advisories import|match`` on real chDB: every shared CISA file imports, a newer
release replaces an advisory, garbage is refused with one line and exit code 2."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from core import cli
from core.config import Settings
from core.store.controlplane import AuditLog, ControlPlane
from core.store.clickhouse import ClickHouseStore
from core.vulns import store
from core.vulns.csaf import CsafError, parse
from core.vulns.match import DeviceId, match_devices

CSAF = Path(__file__).resolve().parents[3] / "shared" / "advisories" / "csaf"
needs_csaf = pytest.mark.skipif(not CSAF.is_dir(), reason="../shared/advisories/csaf is not there")


@pytest.fixture
def ch(tmp_path):
    with ClickHouseStore(f"chdb://{tmp_path}/ch") as s:
        s.migrate()
        yield s


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("MIERUKA_DATA_DIR", str(tmp_path / "data"))
    runner = CliRunner()
    return lambda *args: runner.invoke(cli.app, [str(a) for a in args])


@pytest.mark.no_controlplane
@needs_csaf
def test_every_shared_advisory_imports(ch):
    files = sorted(CSAF.glob("*.json"))
    started = time.perf_counter()
    report = store.import_path(ch, CSAF)
    took = time.perf_counter() - started
    print(f"imported {len(files)} files in {took * 1000:.0f} ms")
    assert report.refused == {} and len(report.imported) == len(files) == 25
    loaded = {a.advisory_id: a for a in store.load(ch)}
    assert len(loaded) == 25
    s71200 = loaded["ICSA-22-286-04"]
    assert s71200.vulnerabilities[0].cve == "CVE-2022-38465" and s71200.vulnerabilities[0].cvss == 9.3
    assert {p.condition for p in s71200.products} >= {"< V4.5.0", "vers:all/*"}
    numbers = {n for p in loaded["ICSA-18-079-02"].products for n in p.model_numbers}
    assert "6ES7315-2EH14-0AB0" in numbers
    assert sum(len(a.vulnerabilities) for a in loaded.values()) == 38  # as many as the files hold


@pytest.mark.no_controlplane
@needs_csaf
def test_reimport_and_newer_release_replace(ch, tmp_path):
    source = json.loads((CSAF / "icsa-17-320-01.json").read_text())
    store.import_path(ch, CSAF / "icsa-17-320-01.json")
    store.import_path(ch, CSAF / "icsa-17-320-01.json")
    (moxa,) = store.load(ch)
    assert len(moxa.products) == 6 and len(moxa.vulnerabilities) == 3
    device = DeviceId("nport", "Moxa", "NPort 5150", "3.7")
    assert {m.cve for m in match_devices(ch, [device])["nport"]} == {"CVE-2017-14028", "CVE-2017-16715", "CVE-2017-16719"}

    # revision 2: NPort 5150 fixed in the advisory, one CVE withdrawn
    source["document"]["tracking"].update(current_release_date="2018-01-01T00:00:00Z", version="2")
    source["vulnerabilities"] = [v for v in source["vulnerabilities"] if v["cve"] != "CVE-2017-16719"]
    nport_5150 = "CSAFPID-0001"
    for v in source["vulnerabilities"]:
        v["product_status"]["known_affected"].remove(nport_5150)
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(source))
    store.import_path(ch, newer)
    (moxa,) = store.load(ch)
    assert moxa.revision == "2" and len(moxa.vulnerabilities) == 2
    assert match_devices(ch, [device]) == {}
    assert {m.cve for m in match_devices(ch, [DeviceId("n", "Moxa", "NPort 5110", "2.4")])["n"]} == {
        "CVE-2017-14028", "CVE-2017-16715"}

    store.import_path(ch, CSAF / "icsa-17-320-01.json")  # the older release again: still revision 2
    assert store.load(ch)[0].revision == "2"


@pytest.mark.parametrize("document, reason", [
    ([], "the file is not a JSON object"),
    ({"document": {"csaf_version": "1.2", "tracking": {"id": "x"}}}, "csaf_version"),
    ({"document": {"csaf_version": "2.0", "tracking": {}}}, "tracking.id is missing"),
    ({"document": {"csaf_version": "2.0", "title": "t", "tracking": {"id": "A", "current_release_date": "x",
      "initial_release_date": "2020-01-01"}}, "product_tree": {"branches": [{"category": "vendor", "name": "V",
      "product": {"product_id": "P", "name": "p"}}]}, "vulnerabilities": [{"cve": "CVE-1-1"}]}, "not a date"),
    ({"document": {"csaf_version": "2.0", "tracking": {"id": "A"}}, "product_tree": {"branches": []}},
     "names no product"),
])
@pytest.mark.no_controlplane
def test_garbage_is_refused_with_a_reason(document, reason):
    with pytest.raises(CsafError, match=reason):
        parse(document)


@needs_csaf
def test_cli_import_a_folder_with_one_bad_file(run, tmp_path):
    folder = tmp_path / "advisories"
    folder.mkdir()
    for name in ("icsa-22-286-04.json", "icsa-18-310-02.json"):
        (folder / name).write_bytes((CSAF / name).read_bytes())
    (folder / "broken.json").write_text('{"document": ')
    r = run("advisories", "import", folder)
    assert r.exit_code == 1
    assert "broken.json: not JSON" in r.output and "2 advisory file(s) imported, 1 refused" in r.output
    cp = ControlPlane(Settings().database_dsn)
    with cp.sessions() as db:
        (logged,) = db.scalars(select(AuditLog).where(AuditLog.action == "advisories.import")).all()
    cp.close()
    assert logged.actor == "cli" and logged.detail.endswith("2 imported, 1 refused")
    r = run("advisories", "match", "--vendor", "Siemens AG", "--model", "6ES7 214-1AG40-0XB0", "--firmware", "V4.4.9")
    assert r.exit_code == 0
    line = json.loads(r.stdout)
    assert line["model"] == "6ES7 214-1AG40-0XB0" and line["firmware"] == "V4.4.9"
    assert line["matches"] == [{"cve": "CVE-2022-38465", "cvss": 9.3, "advisory": "ICSA-22-286-04", "confidence": "family"}]

    assets = tmp_path / "purchase.csv"
    assets.write_text("vendor,model,firmware\nRockwell Automation,1756-EN2T/D,10.10\n"
                      "Rockwell Automation,1756-EN2T/D,11.001\nSiemens AG,,\n", encoding="utf-8")
    r = run("advisories", "match", "--assets", assets)
    assert r.exit_code == 0
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [len(x["matches"]) for x in lines] == [1, 0, 0]
    assert lines[0]["matches"][0] == {"cve": "CVE-2018-17924", "cvss": 8.6, "advisory": "ICSA-18-310-02",
                                      "confidence": "exact"}


def test_cli_refuses_bad_arguments_with_one_line(run, tmp_path):
    garbage = tmp_path / "garbage.json"
    garbage.write_text("not json at all")
    empty = tmp_path / "empty"
    empty.mkdir()
    wrong_columns = tmp_path / "wrong.csv"
    wrong_columns.write_text("maker,type\nSiemens,S7\n")
    for args in (("import", garbage), ("import", tmp_path / "missing"), ("import", empty),
                 ("match", "--vendor", "Siemens AG"), ("match", "--assets", wrong_columns),
                 ("match", "--assets", wrong_columns, "--model", "x"), ("match", "--assets", tmp_path / "none.csv")):
        r = run("advisories", *args)
        assert r.exit_code == 2, (args, r.output)
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error: "), (args, r.stderr)


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=6)


def _paths(value, path=()):
    yield path
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from _paths(child, (*path, key))


@pytest.mark.no_controlplane
@needs_csaf
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_damaged_advisory_is_refused_never_a_crash(data):
    """Any part of a real advisory replaced by any JSON value: read, or refused with a CsafError."""
    name = data.draw(st.sampled_from(sorted(p.name for p in CSAF.glob("*.json"))))
    document = json.loads((CSAF / name).read_text())
    path = data.draw(st.sampled_from(list(_paths(document))[1:]))
    holder = document
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = data.draw(JSON_VALUES)
    try:
        parse(document)
    except CsafError as exc:
        assert str(exc)
