"""Dashboard pages over TestClient: login and sessions, CSRF, overview content, language, isolation."""

from __future__ import annotations

import re

import pytest
from coretest import PASSWORD
from fastapi.testclient import TestClient
from pagetest import csrf_token, figure

from dashboard import plotlyjs
from dashboard.i18n import MESSAGES

JA, EN = MESSAGES["ja"], MESSAGES["en"]


def set_cookie(response, name: str) -> str:
    """The Set-Cookie header for ``name``, or ""."""
    return next((h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")), "")


def test_pages_need_a_session(client):
    r = client.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_login_page_hands_out_an_httponly_csrf_seed(client):
    r = client.get("/login")
    assert r.status_code == 200
    cookie = set_cookie(r, "mieruka_csrf")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert len(csrf_token(r.text)) == 64
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"


def test_login_sets_a_session_cookie_and_redirects(client, acme, login):
    r = login(acme)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = set_cookie(r, "mieruka_session")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=43200" in cookie
    assert "Secure" not in cookie
    assert client.get("/").status_code == 200
    assert client.get("/login").headers["location"] == "/"  # already logged in


def test_cookies_are_secure_over_https(client, acme):
    https = TestClient(client.app, base_url="https://testserver", follow_redirects=False)
    page = https.get("/login")
    assert "Secure" in set_cookie(page, "mieruka_csrf")
    r = https.post("/login", data={"csrf_token": csrf_token(page.text), "email": acme.email, "password": PASSWORD})
    assert "Secure" in set_cookie(r, "mieruka_session")


@pytest.mark.parametrize("email", ["analyst@acme.example", "nobody@acme.example"])
def test_bad_credentials_get_one_generic_message(client, acme, login, email):
    r = login(acme, email, "wrong password")
    assert r.status_code == 200
    assert JA["login_failed"] in r.text
    assert not set_cookie(r, "mieruka_session")


@pytest.mark.parametrize("token", [None, "", "0" * 64])
def test_login_without_a_valid_csrf_token_is_403(client, acme, token):
    client.get("/login")  # the browser has a seed, but the form field is missing or wrong
    data = {"email": acme.email, "password": PASSWORD} | ({"csrf_token": token} if token is not None else {})
    r = client.post("/login", data=data)
    assert r.status_code == 403
    assert JA["csrf_failed"] in r.text
    assert not set_cookie(r, "mieruka_session")


def test_token_without_its_seed_cookie_is_403(client, acme):
    token = csrf_token(client.get("/login").text)
    client.cookies.clear()  # e.g. a cross-site page that copied a token but not the cookie
    r = client.post("/login", data={"csrf_token": token, "email": acme.email, "password": PASSWORD})
    assert r.status_code == 403


def test_logout_needs_the_token_of_the_current_session(client, acme, login):
    stale = csrf_token(client.get("/login").text)  # issued before login
    login(acme)
    assert client.post("/logout", data={"csrf_token": stale}).status_code == 403
    assert client.post("/logout").status_code == 403
    assert client.get("/").status_code == 200  # still logged in

    r = client.post("/logout", data={"csrf_token": csrf_token(client.get("/").text)})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/").status_code == 303


def test_overview_shows_the_tenants_data_in_tokyo_time(client, acme, login):
    login(acme)
    html = client.get("/").text
    assert '<html lang="ja">' in html and JA["overview_title"] in html
    for text in ("SN-acme", "10.1.0.1", "10.1.0.2", "00:1b:1b:00:00:02", "Siemens", "plc-10.1.0"):
        assert text in html
    assert "2024-05-01 21:00:00" in html  # first seen, 12:00 UTC in JST
    traffic = figure(html, "traffic")
    assert [trace["name"] for trace in traffic["data"]] == [JA["bytes"], JA["packets"]]
    assert "2024-05-01T21:00:00" in traffic["data"][0]["x"]
    protocols = figure(html, "protocols")["data"][0]
    assert protocols["y"] == ["http/tcp", "modbus/tcp"]  # largest last = on top
    assert protocols["x"] == [3000, 7000]
    assert figure(html, "talkers")["data"][0]["y"][-1] == "10.1.0.2"
    assert JA["no_data"] not in html


def test_overview_empty_states(client, initech, login):
    login(initech)
    html = client.get("/").text
    assert "js-plotly-plot" not in html and 'type="application/json"' not in html
    assert html.count(JA["no_data"]) == 3
    assert JA["no_assets"] in html and JA["never"] in html


def test_tenants_see_only_their_own_data(client, acme, globex, login):
    login(globex)
    html = client.get("/?range=7d").text
    assert "10.2.0.2" in html and "SN-globex" in html
    assert "10.1.0." not in html and "SN-acme" not in html


def test_range_selector(client, acme, login):
    login(acme)
    html = client.get("/?range=1h").text
    assert re.search(r'data-range="1h" class="current"', html)
    assert "2024-05-01 20:02 – 2024-05-01 21:02" in html  # one hour up to the newest data
    assert re.search(r'data-range="24h" class="current"', client.get("/?range=bogus").text)


def test_language_from_query_cookie_and_accept_language(client, acme, login):
    login(acme)
    assert '<html lang="en">' in client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"}).text
    r = client.get("/?lang=en")
    assert EN["overview_title"] in r.text and "mieruka_lang=en" in set_cookie(r, "mieruka_lang")
    assert '<html lang="en">' in client.get("/").text  # remembered
    assert '<html lang="ja">' in client.get("/?lang=ja").text


@pytest.mark.parametrize(
    ("name", "content_type"),
    [(plotlyjs.NAME, "javascript"), ("dashboard.js", "javascript"), ("style.css", "text/css")],
)
def test_static_files_are_served_locally(client, name, content_type):
    r = client.get(f"/static/dashboard/{name}")
    assert r.status_code == 200 and content_type in r.headers["content-type"]


def test_only_known_static_files(client):
    assert client.get("/static/dashboard/routes.py").status_code == 404
    assert client.get("/static/dashboard/..%2Froutes.py").status_code == 404
