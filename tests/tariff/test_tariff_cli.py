"""The tariff CLI through a real process: the JSON shapes of spec §4 and one-line, exit-2 errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from tarifftest import C1, osect, scc


def tariff(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tariff", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


@pytest.fixture
def contract_file(tmp_path):
    def write(data, name="contract.json"):
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
        return str(path)

    return write


def test_opening_date_json_shape():
    run = tariff(
        "opening-date", "--plan", "osect", "--desired", "2026-12-01", "--delivered", "2026-11-19", "--json"
    )
    assert run.returncode == 0 and run.stderr == ""
    assert json.loads(run.stdout) == {
        "opening_date": "2026-12-03",
        "shipping_delay_days": 2,
        "test_delay_days": 0,
        "installation_deadline": "2026-11-25",
    }


def test_opening_date_text_explains_the_derivation():
    run = tariff(
        "opening-date",
        "--plan",
        "osect",
        "--desired",
        "2026-12-01",
        "--delivered",
        "2026-11-13",
        "--installed",
        "2026-11-20",
        "--tested",
        "2026-11-30",
    )
    assert run.returncode == 0
    assert run.stdout.startswith("opening date 2026-12-02") and "bd(D,-2) = 2026-11-27" in run.stdout


def test_invoice_json_shape(contract_file):
    run = tariff(
        "invoice", contract_file(osect(equipment_delivered_date="2026-11-19")), "--month", "2026-12", "--json"
    )
    assert run.returncode == 0 and run.stderr == ""
    out = json.loads(run.stdout)
    assert list(out) == ["contract_id", "month", "lines", "subtotal", "tax", "total"]
    assert (out["contract_id"], out["month"], out["subtotal"], out["tax"], out["total"]) == (
        "C-1",
        "2026-12",
        612_258,
        61_225,
        673_483,
    )
    for line in out["lines"]:
        assert list(line) == ["code", "description", "quantity", "unit_price", "amount"]
        assert isinstance(line["code"], str) and isinstance(line["description"], str)
        assert all(type(line[key]) is int for key in ("quantity", "unit_price", "amount"))


def test_invoice_text_lists_lines_and_totals(contract_file):
    run = tariff("invoice", contract_file(C1), "--month", "2027-02")
    assert run.returncode == 0
    assert "osect.initial" in run.stdout and "451,785" in run.stdout


def test_invoice_outside_the_contract_is_empty(contract_file):
    run = tariff("invoice", contract_file(C1), "--month", "2026-11", "--json")
    assert json.loads(run.stdout) == {
        "contract_id": "C-1",
        "month": "2026-11",
        "lines": [],
        "subtotal": 0,
        "tax": 0,
        "total": 0,
    }


def test_late_interest_json_shape():
    run = tariff(*replace(INTEREST, "--plan", "ciero"), "--json")  # spec §0's example at Ciero's 14.6 %
    assert run.returncode == 0 and json.loads(run.stdout) == {"days": 30, "interest": 120}


OPENING = ["opening-date", "--plan", "osect", "--desired", "2026-12-01", "--delivered", "2026-11-19"]
INTEREST = [
    "late-interest",
    "--plan",
    "osect",
    "--principal",
    "10000",
    "--due",
    "2024-04-30",
    "--paid",
    "2024-05-31",
]


def replace(args: list[str], option: str, value: str) -> list[str]:
    out = list(args)
    out[out.index(option) + 1] = value
    return out


BAD_ARGS = [
    ([], "command"),
    (["frobnicate"], "frobnicate"),
    (OPENING[:3] + OPENING[5:], "--desired"),
    (replace(OPENING, "--desired", "2026-12-1"), "--desired"),
    (replace(OPENING, "--desired", "2200-12-01") + ["--json"], "--desired"),
    (replace(OPENING, "--plan", "dot-i"), "--plan"),
    (OPENING[:1] + OPENING[3:], "--plan"),
    (OPENING + ["--installed", "2026-11-18"], "--installed"),
    (OPENING + ["--installed", "2026-11-20", "--tested", "2026-11-19"], "--tested"),
    (OPENING + ["--bogus"], "--bogus"),
    (replace(INTEREST, "--plan", "dot-i"), "--plan"),
    (replace(INTEREST, "--principal", "-5"), "--principal"),
    (replace(INTEREST, "--principal", "10.5"), "--principal"),
    (replace(INTEREST, "--paid", "May 31"), "--paid"),
    (["invoice", "missing.json", "--month", "2026-12"], "CONTRACT"),
]


@pytest.mark.parametrize(("args", "name"), BAD_ARGS, ids=[f"{i}-{n}" for i, (_, n) in enumerate(BAD_ARGS)])
def test_bad_arguments_give_one_line_and_exit_2(args, name, tmp_path):
    run = tariff(*args, cwd=tmp_path)
    assert_one_line_error(run, name)


BAD_CONTRACTS = [
    ('{"contract_id": "C-1", "plan": ', "contract"),
    ("[]", "contract"),
    (osect(plan="osect-lite"), "plan"),
    ({k: v for k, v in osect().items() if k != "sensors"}, "sensors"),
    (scc(cameras=-1), "cameras"),
    (osect(termination_date="2026-11-30"), "termination_date"),
    (osect(sensor_changes=[{"date": "2027-01-01", "count": 0}]), "sensor_changes[0].count"),
    (
        scc(outages=[{"aware_at": "yesterday", "restored_at": "2026-12-07T10:00:00+09:00"}]),
        "outages[0].aware_at",
    ),
    (osect(colour="blue"), "colour"),
]


@pytest.mark.parametrize(
    ("data", "field"), BAD_CONTRACTS, ids=[f"{i}-{f}" for i, (_, f) in enumerate(BAD_CONTRACTS)]
)
def test_bad_contract_files_give_one_line_naming_the_field(data, field, contract_file):
    run = tariff("invoice", contract_file(data), "--month", "2026-12", "--json")
    assert_one_line_error(run, field)


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "december"])
def test_bad_month_gives_one_line(month, contract_file):
    assert_one_line_error(tariff("invoice", contract_file(C1), "--month", month), "--month")


def assert_one_line_error(run: subprocess.CompletedProcess, name: str) -> None:
    assert run.returncode == 2, run.stderr
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    assert name in lines[0]
