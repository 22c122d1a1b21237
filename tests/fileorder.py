"""The order ``--dist loadfile`` hands test files to the xdist workers: longest first.

xdist's own order is by number of tests, which leaves the slowest files (one or two long tests
each: the demo, the ingest fuzzer, the Wireshark comparison) for the end of a run, where one worker
runs them while the other has nothing left to do. Longest-first ends both workers close together.
A file's time is its CI time where known (seconds, from ``--durations`` of full runs, rounded), else
an estimate from its number of tests and its folder's fixtures; only the order depends on it.
"""

from __future__ import annotations

from collections import OrderedDict

from xdist.scheduler import LoadFileScheduling

KNOWN_SECONDS = {
    "tests/e2e/test_ingest_crash.py": 170,
    "tests/e2e/test_uplink_faults.py": 60,
    "tests/core/test_rules_engine.py": 45,
    "tests/e2e/test_demo.py": 40,
    "tests/core/test_ingest_fuzz.py": 32,
    "tests/sensor/test_wireshark_diff.py": 28,
    "tests/browser/test_changes_browser.py": 30,
    "tests/browser/test_faults_browser.py": 25,
    "tests/browser/test_alerts_browser.py": 25,
    "tests/core/test_explore_api.py": 22,
    "tests/core/test_detect_corpus.py": 20,
    "tests/sensor/test_decode_rtp.py": 18,
    "tests/core/test_report_cli.py": 15,
    "tests/core/test_login_lockout.py": 14,
    "tests/e2e/test_installation.py": 12,
}
PER_TEST = 0.4  # a typical test
PER_FILE = {"tests/browser/": 12.0, "tests/e2e/": 8.0}  # a simulated site and Chromium; real processes


def estimate(path: str, tests: int) -> float:
    if path in KNOWN_SECONDS:
        return KNOWN_SECONDS[path]
    setup = next((s for folder, s in PER_FILE.items() if path.startswith(folder)), 0.0)
    return setup + PER_TEST * tests


class LongestFileFirst(LoadFileScheduling):
    """``--dist loadfile`` with the work queue sorted by each file's expected time, longest first."""

    _sorted = False

    def _assign_work_unit(self, node) -> None:
        if not self._sorted:  # the queue is complete before the first unit is handed out
            self.workqueue = OrderedDict(sorted(self.workqueue.items(),
                                                key=lambda unit: -estimate(unit[0], len(unit[1]))))
            self._sorted = True
        super()._assign_work_unit(node)
