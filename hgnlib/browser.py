"""Where the headless Chromium that checks the report pages comes from (standard library only: tasks.py uses it).

Looked for in this order: ``$HGN_CHROMIUM``; Debian's ``chromium-headless-shell`` or ``chromium``; Playwright's own
download (``~/.cache/ms-playwright``). :func:`install` obtains one: Playwright's download, else (as root on Debian)
``apt-get update`` and ``apt-get install chromium-headless-shell``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

DEBIAN_PACKAGE = "chromium-headless-shell"
INSTALL_HINT = (f"fix: run `python3 tasks.py setup`, or `apt-get install {DEBIAN_PACKAGE}`, or "
                "`.venv/bin/playwright install chromium`, or set HGN_CHROMIUM to a Chromium executable")


def find_chromium() -> str | None:
    """The path of a headless Chromium, or None."""
    if os.environ.get("HGN_CHROMIUM"):
        return os.environ["HGN_CHROMIUM"]
    for name in (DEBIAN_PACKAGE, "chromium"):
        if shutil.which(name):
            return shutil.which(name)
    cache = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH", Path.home() / ".cache" / "ms-playwright"))
    found = sorted(cache.glob("chromium*/chrome-linux*/chrome")) + sorted(cache.glob("chromium_headless_shell*/*/"
                                                                                         "chrome-headless-shell"))
    return str(found[-1]) if found else None


def install(python: str | Path) -> str | None:
    """Obtain a headless Chromium if none is found; return its path (None when every way failed)."""
    if find_chromium():
        return find_chromium()
    attempts = [[[str(python), "-m", "playwright", "install", "chromium"]]]  # its download host may be unreachable
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        attempts.append([["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                                                        DEBIAN_PACKAGE]])
    for commands in attempts:
        try:
            for cmd in commands:
                print("+", " ".join(cmd), flush=True)
                subprocess.run(cmd, check=True, timeout=300)
        except (subprocess.SubprocessError, OSError) as exc:
            print(f"({exc})", file=sys.stderr, flush=True)
        if find_chromium():
            return find_chromium()
    return None
