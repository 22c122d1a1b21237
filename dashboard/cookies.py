"""One way to set the dashboard's cookies: HttpOnly, SameSite=Lax, Secure when served over https.

Behind a TLS-terminating proxy the scheme comes from X-Forwarded-Proto (uvicorn's proxy headers).
"""

from __future__ import annotations

from fastapi import Request, Response


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
