"""Headless Chromium (Debian's, driven by Playwright) logged in to a JupyterHub, for the end-to-end tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final

#: As root, without a sandbox; no background networking, which this machine's closed network refuses.
CHROMIUM_ARGS: Final = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                        "--disable-background-networking", "--disable-component-update"]


@contextlib.contextmanager
def logged_in(hub_url: str, user: str, password: str) -> Iterator[Any]:
    """A page on which `user` has just submitted the hub's login form."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{hub_url}/hub/login")
            page.fill("input#username_input", user)
            page.fill("input#password_input", password)
            page.click("#login_submit")
            yield page
        finally:
            browser.close()
