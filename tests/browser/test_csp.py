"""The Content-Security-Policy in Chromium: every dashboard page works under it (no violation, charts
drawn by the locally served plotly.js), and it is enforced (an injected inline script does not run)."""

from __future__ import annotations

from browsertest import collect_errors, log_in

# Records every CSP violation the page reports, from before its first script runs.
WATCH = """window.__violations = [];
document.addEventListener('securitypolicyviolation',
    e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));"""


def test_dashboard_pages_run_under_the_csp(site, page):
    errors = collect_errors(page)
    page.add_init_script(WATCH)
    log_in(page, site.url, site.acme_email)
    page.wait_for_selector("#talkers .js-plotly-plot")
    assert page.evaluate("window.__violations") == []
    plc = next(d for d in site.devices if d["name"].startswith("plc"))
    for path in ("/assets", f"/assets/{plc['mac']}", "/sensors", "/?range=7d&lang=en"):
        response = page.goto(site.url + path)
        assert response.status == 200 and "frame-ancestors 'none'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__violations") == [], path
    assert errors == []


def test_the_csp_blocks_injected_inline_script(site, page):
    page.add_init_script(WATCH)
    log_in(page, site.url, site.acme_email)
    page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.__ran = true'; document.body.appendChild(s); }""")
    page.wait_for_function("window.__violations.length > 0")
    assert page.evaluate("window.__ran === undefined")
    assert page.evaluate("window.__violations")[0].startswith("script-src")
