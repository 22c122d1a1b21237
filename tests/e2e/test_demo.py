"""`mieruka demo` as a newcomer runs it: a real process that prints a URL and a login that work."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_serves_replayed_data_behind_its_printed_login(tmp_path):
    cli = Path(sys.executable).parent / "mieruka"
    port = free_port()
    proc = subprocess.Popen([cli, "demo", "--data-dir", tmp_path / "demo", "--port", str(port),
                             "--packets", "20000"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output = ""
        deadline = time.monotonic() + 240
        while "Ctrl-C" not in output:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, f"demo exited early:\n{output}"
            assert time.monotonic() < deadline, f"demo not ready in time:\n{output}"
            output += line
        url = re.search(r"ready: (http://\S+)/", output).group(1)
        email = re.search(r"login: (\S+)", output).group(1)
        password = re.search(r"password: (\S+)", output).group(1)
        assert url == f"http://127.0.0.1:{port}"

        with httpx.Client(base_url=url, follow_redirects=True, timeout=30) as browser:
            form = browser.get("/login").text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
            page = browser.post("/login", data={"email": email, "password": password, "csrf_token": csrf})
            assert page.status_code == 200 and page.url.path == "/"  # logged in, on the overview
            assert "/static/dashboard/plotly-" in page.text and "DEMO-0001" in page.text
            totals = browser.get("/api/v1/totals").json()
        assert totals["captured_packets"] == totals["packets"] == 20000
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
