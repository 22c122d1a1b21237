"""The order ``--dist loadfile`` hands test files to the xdist workers: longest first.

xdist's own order is by number of tests, which leaves the slowest files (one or two long tests
each: the demo, the ingest fuzzer, the Wireshark comparison) for the end of a run, where one worker
runs them while the other has nothing left to do. Longest-first ends both workers close together.
A file's time is its CI time where known (seconds: a full run's per-file sums, scaled to a quiet run), else
an estimate from its number of tests and its folder's fixtures; only the order depends on it.
"""

from __future__ import annotations

from collections import OrderedDict

from xdist.scheduler import LoadFileScheduling

KNOWN_SECONDS = {
    "tests/e2e/test_ingest_crash.py": 76,
    "tests/core/test_explore_api.py": 66,
    "tests/core/test_ingest_fuzz.py": 40,
    "tests/core/test_report_cli.py": 20,
    "tests/browser/test_explorer_browser.py": 51,
    "tests/e2e/test_uplink_faults.py": 50,
    "tests/e2e/test_installation.py": 45,
    "tests/sensor/test_decode_fuzz.py": 44,
    "tests/sensor/test_wireshark_diff.py": 42,
    "tests/core/test_detect_group_fuzz.py": 27,
    "tests/dashboard/test_assets_pages.py": 35,
    "tests/dashboard/test_pages.py": 34,
    "tests/core/test_rules_engine.py": 33,
    "tests/core/test_retention.py": 31,
    "tests/browser/test_overview.py": 26,
    "tests/core/test_kept.py": 24,
    "tests/sensor/test_icsnpp_agreement.py": 24,
    "tests/e2e/test_demo.py": 24,
    "tests/core/test_zones.py": 23,
    "tests/sensor/test_pipeline_fuzz.py": 23,
    "tests/e2e/test_sensor_run.py": 23,
    "tests/core/test_tenant_data.py": 22,
    "tests/core/test_detect_corpus.py": 22,
    "tests/browser/test_changes_browser.py": 22,
    "tests/sensor/test_aot.py": 21,
    "tests/dashboard/test_sensors_page.py": 21,
    "tests/browser/test_faults_browser.py": 20,
    "tests/tariff/test_tariff_cli.py": 20,
    "tests/core/test_explore_timeline.py": 20,
    "tests/browser/test_ledger_fit.py": 19,
    "tests/core/test_metrics_workers.py": 19,
    "tests/browser/test_netmap_browser.py": 19,
    "tests/dashboard/test_alert_pages.py": 18,
    "tests/browser/test_alerts_browser.py": 18,
    "tests/core/test_ingest.py": 18,
    "tests/browser/test_stats_browser.py": 17,
    "tests/browser/test_risk_browser.py": 17,
    "tests/dashboard/test_admin_pages.py": 17,
    "tests/browser/test_vulns_browser.py": 16,
    "tests/browser/test_csp.py": 16,
    "tests/core/test_stats.py": 15,
    "tests/core/test_detect_together.py": 15,
    "tests/core/test_forward_page.py": 14,
    "tests/core/test_ingest_groups.py": 14,
    "tests/deploy/test_deploy_cluster_queries.py": 14,
    "tests/core/test_ingest_threads.py": 14,
    "tests/sensor/test_fast_s7comm.py": 13,
    "tests/core/test_vulns_import.py": 13,
    "tests/dashboard/test_report_page.py": 13,
    "tests/core/test_detect.py": 13,
    "tests/browser/test_admin_browser.py": 12,
    "tests/browser/test_assets_download_browser.py": 12,
    "tests/dashboard/test_ledger_search_sort.py": 12,
    "tests/sensor/test_fast_modbus.py": 12,
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
