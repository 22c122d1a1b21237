"""Screenshots for a human to look at, taken past Chromium's transient refusals."""

from __future__ import annotations

import time

REFUSED = "Unable to capture screenshot"  # Chromium refuses a capture now and then and takes it when asked again


def shoot(target, path, attempts: int = 4, **options) -> None:
    """``target.screenshot(path=path, **options)`` for a page or a locator, asked again (up to
    ``attempts`` times, 0.3 s apart) only when Chromium answers that it cannot capture; any other
    error, and the last refusal, reach the test."""
    from playwright.sync_api import Error

    for attempt in range(1, attempts + 1):
        try:
            target.screenshot(path=path, **options)
            return
        except Error as e:
            if REFUSED not in str(e) or attempt == attempts:
                raise
            time.sleep(0.3)
