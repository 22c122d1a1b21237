"""``mieruka report``: a fresh data directory's tenant gets its HTML and PDF (every figure zero);
bad dates, extension, language or tenant, or no Chromium for a PDF, print one line and exit 2 (the
entry point run in this process: each ``mieruka`` process costs seconds of imports)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pgtest import controlplane_env

from core import cli

MIERUKA = str(Path(sys.executable).parent / "mieruka")


def mieruka(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([MIERUKA, *args], capture_output=True, text=True, timeout=180,
                          env={"PATH": "/usr/bin:/bin", "MIERUKA_DATA_DIR": str(data_dir),
                               **controlplane_env(data_dir), **env})


def mieruka_here(monkeypatch, capsys, data_dir: Path, *args: str, **env: str) -> tuple[int, str]:
    """``mieruka *args`` through its entry point in this process: (exit code, stderr)."""
    for name, value in {"MIERUKA_DATA_DIR": str(data_dir), **controlplane_env(data_dir), **env}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["mieruka", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        cli.main()
    return exited.value.code, capsys.readouterr().err


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report-cli")
    assert mieruka(path, "tenants", "add", "acme").returncode == 0
    return path


@pytest.mark.parametrize("args, says", [
    (("--start", "2026-11-01", "--end", "2026-11-30", "--out", "r.docx"), "--out: r.docx must end in .pdf or .html"),
    (("--start", "2026-11-31", "--end", "2026-11-30", "--out", "r.pdf"), "'2026-11-31' is not a date"),
    (("--start", "2026-12-01", "--end", "2026-11-30", "--out", "r.pdf"), "the start must be before the end"),
    (("--start", "2020-01-01", "--end", "2026-11-30", "--out", "r.pdf"), "at most three years"),
    (("--start", "2026-11-01", "--end", "2026-11-30", "--out", "r.pdf", "--lang", "fr"), "--lang: 'fr'"),
    (("--start", "2026-11-01", "--out", "r.pdf"), "Missing option '--end'"),
])
def test_bad_input_is_one_line_and_exit_2(monkeypatch, capsys, data_dir, tmp_path, args, says):
    monkeypatch.chdir(tmp_path)
    code, stderr = mieruka_here(monkeypatch, capsys, data_dir, "report", "--tenant", "acme", *args)
    assert code == 2 and stderr.count("\n") == 1 and says in stderr, stderr
    assert not (tmp_path / "r.pdf").exists()


def test_unknown_tenant_is_exit_2(monkeypatch, capsys, data_dir, tmp_path):
    code, stderr = mieruka_here(monkeypatch, capsys, data_dir, "report", "--tenant", "nobody", "--start", "2026-11-01",
                                "--end", "2026-11-30", "--out", str(tmp_path / "r.html"))
    assert code == 2 and stderr == "error: no tenant named 'nobody'\n"


def test_html_and_pdf_of_an_empty_tenant(data_dir, tmp_path):
    html = tmp_path / "acme.html"
    done = mieruka(data_dir, "report", "--tenant", "acme", "--start", "2026-11-01", "--end", "2026-11-30",
                   "--out", str(html), "--lang", "en")
    assert done.returncode == 0, done.stderr
    text = html.read_text()
    assert "Security assessment report" in text and "2026-11-01 00:00 to 2026-11-30 23:59" in text
    assert "No alerts in the period." in text and "No findings need action." in text
    if not shutil.which("pdftotext") or not Path("/usr/bin/chromium").exists():
        pytest.skip("poppler-utils or chromium missing")
    pdf = tmp_path / "acme.pdf"
    assert mieruka(data_dir, "report", "--tenant", "acme", "--start", "2026-11-01", "--end", "2026-11-30",
                   "--out", str(pdf)).returncode == 0
    words = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "セキュリティ・アセスメントレポート" in words and "対象期間のアラートはありません。" in words


def test_no_chromium_is_one_line_and_exit_2(monkeypatch, capsys, data_dir, tmp_path):
    code, stderr = mieruka_here(monkeypatch, capsys, data_dir, "report", "--tenant", "acme", "--start", "2026-11-01",
                                "--end", "2026-11-30", "--out", str(tmp_path / "r.pdf"),
                                MIERUKA_CHROMIUM=str(tmp_path / "no-chromium"))
    assert code == 2 and stderr.count("\n") == 1 and "no-chromium not found" in stderr
    assert not (tmp_path / "r.pdf").exists()
