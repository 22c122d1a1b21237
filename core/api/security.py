"""Security headers on every response: API, dashboard pages, static files, redirects and errors.

``SecuredApp`` puts ``SecurityHeaders`` outside Starlette's whole middleware stack, so even the
500 answer of an unexpected failure carries them. HSTS is sent only on requests that arrived over
TLS: uvicorn sets the scheme to ``https`` for a TLS listener, or from ``X-Forwarded-Proto`` when the
peer is one of its ``--forwarded-allow-ips`` (``FORWARDED_ALLOW_IPS``, default loopback); the
header itself is never read here, so no client can ask for HSTS. The ``Server`` header is turned
off where uvicorn starts (``server_header=False``) and dropped here in case another server adds one.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The dashboard loads only its own scripts (plotly.js included); plotly sets inline styles.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
       " object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# The API reference pages (core/api/docs.py) start Swagger UI / ReDoc with an inline script; their
# scripts are our own files. ReDoc renders in a worker from a blob.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline';"
            " img-src 'self' data:; worker-src blob:; object-src 'none'; base-uri 'none';"
            " frame-ancestors 'none'")
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
HSTS = "max-age=31536000"


class SecurityHeaders:
    """ASGI middleware adding ``HEADERS``, a CSP (``DOCS_CSP`` on ``docs_paths``) and HSTS over TLS."""

    def __init__(self, app: ASGIApp, docs_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if scope["path"] in self.docs_paths else CSP
        tls = scope.get("scheme") == "https"

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
                headers["Content-Security-Policy"] = csp
                if tls:
                    headers["Strict-Transport-Security"] = HSTS
                del headers["Server"]
            await send(message)

        await self.app(scope, receive, send_secured)


class SecuredApp(FastAPI):
    """FastAPI with ``SecurityHeaders`` around everything, Starlette's error handling included;
    ``docs_paths`` get the API reference pages' policy."""

    docs_paths: frozenset[str] = frozenset()

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack(), self.docs_paths)
