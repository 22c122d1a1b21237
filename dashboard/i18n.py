"""UI message catalogue (Japanese and English) and the choice of language for a request."""

from __future__ import annotations

from collections.abc import Callable, Mapping

DEFAULT_LANG = "ja"
LANG_COOKIE = "mieruka_lang"

MESSAGES: dict[str, dict[str, str]] = {
    "ja": {
        "app_name": "mieruka",
        "tagline": "OT・ネットワークカメラ可視化",
        "nav_overview": "概要",
        "logout": "ログアウト",
        "language": "言語",
        "login_title": "ログイン",
        "email": "メールアドレス",
        "password": "パスワード",
        "login_submit": "ログイン",
        "login_failed": "メールアドレスまたはパスワードが正しくありません。",
        "csrf_failed": "フォームの有効期限が切れたか、不正な送信です。ページを再読み込みしてやり直してください。",
        "overview_title": "概要",
        "window": "表示期間",
        "range_1h": "1時間",
        "range_24h": "24時間",
        "range_7d": "7日間",
        "times_in": "時刻は {tz} で表示",
        "sensors": "センサー",
        "sensor_name": "名前",
        "serial": "シリアル",
        "last_seen": "最終受信",
        "first_seen": "初回観測",
        "last_observed": "最終観測",
        "asset_count": "資産数",
        "batches": "バッチ数",
        "packets": "パケット",
        "bytes": "バイト",
        "flows": "フロー",
        "peers": "通信相手数",
        "never": "未受信",
        "traffic": "トラフィック推移（1分あたり）",
        "protocols": "プロトコル構成",
        "talkers": "通信量上位ホスト",
        "assets": "資産一覧",
        "ip": "IPアドレス",
        "mac": "MACアドレス",
        "vendor": "ベンダー",
        "hostname": "ホスト名",
        "no_sensors": "センサーはまだ登録されていません。",
        "no_data": "この期間のデータはありません。",
        "no_assets": "資産はまだ検出されていません。",
        "just_now": "たった今",
        "minutes_ago": "{n}分前",
        "hours_ago": "{n}時間前",
        "days_ago": "{n}日前",
    },
    "en": {
        "app_name": "mieruka",
        "tagline": "OT & network camera visibility",
        "nav_overview": "Overview",
        "logout": "Log out",
        "language": "Language",
        "login_title": "Log in",
        "email": "Email",
        "password": "Password",
        "login_submit": "Log in",
        "login_failed": "Incorrect email or password.",
        "csrf_failed": "The form has expired or was not sent from this site. Reload the page and try again.",
        "overview_title": "Overview",
        "window": "Window",
        "range_1h": "1 hour",
        "range_24h": "24 hours",
        "range_7d": "7 days",
        "times_in": "Times shown in {tz}",
        "sensors": "Sensors",
        "sensor_name": "Name",
        "serial": "Serial",
        "last_seen": "Last seen",
        "first_seen": "First seen",
        "last_observed": "Last seen",
        "asset_count": "Assets",
        "batches": "Batches",
        "packets": "Packets",
        "bytes": "Bytes",
        "flows": "Flows",
        "peers": "Peers",
        "never": "Never",
        "traffic": "Traffic per minute",
        "protocols": "Protocol mix",
        "talkers": "Top talkers",
        "assets": "Assets",
        "ip": "IP address",
        "mac": "MAC address",
        "vendor": "Vendor",
        "hostname": "Hostname",
        "no_sensors": "No sensors registered yet.",
        "no_data": "No data in this window.",
        "no_assets": "No assets discovered yet.",
        "just_now": "just now",
        "minutes_ago": "{n} min ago",
        "hours_ago": "{n} h ago",
        "days_ago": "{n} d ago",
    },
}

LANGS = tuple(MESSAGES)
# The name of each language in itself, for the switcher.
LANG_NAMES = {"ja": "日本語", "en": "English"}

Translator = Callable[..., str]


def translator(lang: str) -> Translator:
    """``t("key", n=3)`` → the message in ``lang`` with its ``{placeholders}`` filled."""
    catalogue = MESSAGES[lang]

    def t(key: str, **values: object) -> str:
        text = catalogue[key]
        return text.format(**values) if values else text

    return t


def _from_accept_language(header: str) -> str | None:
    """The supported language the client prefers most, honouring ``q`` weights."""
    ranked = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        try:
            q = float(params.strip()[2:]) if params.strip().startswith("q=") else 1.0
        except ValueError:
            continue
        primary = tag.strip().lower().split("-")[0]
        if primary in MESSAGES and q > 0:
            ranked.append((-q, position, primary))
    return min(ranked)[2] if ranked else None


def choose_lang(query: str | None, cookies: Mapping[str, str], accept_language: str) -> str:
    """``?lang=`` beats the cookie, which beats Accept-Language; Japanese otherwise."""
    for candidate in (query, cookies.get(LANG_COOKIE)):
        if candidate in MESSAGES:
            return candidate
    return _from_accept_language(accept_language) or DEFAULT_LANG
