"""The dependency rules (pyproject.toml's [tool.importlinter] contracts) hold, and `lint-imports` catches a
forbidden import: run on a copy of the tree with one added, it fails and names the broken contract."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sensor", "core", "dashboard", "tariff")
LINT = Path(sys.executable).with_name("lint-imports")


def lint(cwd: Path) -> subprocess.CompletedProcess:
    # The copy comes first on the path, ahead of the installed (editable) project.
    env = {"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin", "COLUMNS": "200"}  # wide: a contract's name on one line
    return subprocess.run([LINT, "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_tree_keeps_every_contract():
    res = lint(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "6 kept, 0 broken" in res.stdout


@pytest.mark.parametrize("module, line, contract", [
    ("sensor/meter/pipeline.py", "import core", "sensor imports nothing of core, dashboard or tariff"),
    ("core/ingest/__init__.py", "import dashboard", "core never imports dashboard"),
    ("core/ingest/__init__.py", "from sensor.meter import pipeline", "core imports only sensor.wire of the sensor"),
    ("sensor/meter/flows.py", "from sensor.site import config", "sensor stages: a lower stage never imports a higher one"),
    ("sensor/wire/batchcheck.py", "from sensor import errors", "sensor stages: a lower stage never imports a higher one"),
    ("tariff/calendar.py", "from sensor import wire", "tariff imports nothing of core, dashboard or sensor"),
    ("core/access/auth.py", "from core.billing import invoices",
     "core layers: API above the domain rooms, those above access and storage"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path, module, line, contract):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    assert lint(tmp_path).returncode == 0  # the copy as it is keeps them
    path = tmp_path / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    res = lint(tmp_path)
    assert res.returncode != 0
    assert f"{contract} BROKEN" in res.stdout, res.stdout
