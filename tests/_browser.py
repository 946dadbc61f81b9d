"""Headless Chromium driven over the DevTools protocol, for the report's browser tests.

Chromium comes from Debian's ``chromium`` package: :func:`chromium_binary` installs it with
apt-get when it is missing and this user may (the test setup), and says why not otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["Page", "chromium_binary", "open_page"]


def chromium_binary() -> tuple[str | None, str]:
    """(path to chromium, or None with the reason it could not be had)."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found, ""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, "chromium is not installed and apt-get is not usable by this user"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
    ):
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
        if done.returncode != 0:
            return None, f"{' '.join(command)} failed: {done.stderr.strip()[-300:]}"
    found = shutil.which("chromium")
    return (found, "") if found else (None, "apt-get installed no chromium binary")


class Page:
    """One browser tab: commands, and the events seen so far."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        self._socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv(timeout=60))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for event in self.events:
                if event.get("method") == method:
                    return event
            try:
                self.events.append(json.loads(self._socket.recv(timeout=1)))
            except TimeoutError:
                continue
        raise TimeoutError(f"no {method} within {timeout} s")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        data = self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(data["data"]))


@contextmanager
def open_page(binary: str, url: str) -> Iterator[Page]:
    """A headless Chromium tab that has loaded ``url`` (network and page events recorded)."""
    from urllib.request import urlopen

    from websockets.sync.client import connect

    # Chromium's helper processes may still touch the profile as it goes: clean up leniently.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        proc = subprocess.Popen(
            [
                binary,
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "--window-size=1280,900",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so all of it can be stopped
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.time() + 60
            while not port_file.exists() and time.time() < deadline:
                time.sleep(0.1)
            port = port_file.read_text().splitlines()[0]
            with urlopen(f"http://127.0.0.1:{port}/json/list") as response:
                targets = json.load(response)
            page_ws = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
            with connect(page_ws, max_size=64 << 20) as socket:
                page = Page(socket)
                page.send("Network.enable")
                page.send("Page.enable")
                page.send("Page.navigate", url=url)
                page.wait_for("Page.loadEventFired")
                yield page
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
