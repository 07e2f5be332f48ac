#!/usr/bin/env python3
"""Screenshot a local HTML page with headless Chromium, to look at what a person sees.

Usage:
    python scripts/screenshot.py report.html [out.png] [--width 1280] [--height 3000] [--tile 1400]

``--tile H`` also cuts the picture into ``out-1.png``, ``out-2.png``, ... of H pixels each
(needs Pillow, which matplotlib brings), since image viewers shrink a tall page until its
text cannot be read. The window height is the picture's height: make it as tall as the page.

Chromium comes from Debian (`apt-get install -y chromium`). Every network feature is
off, so a page that needs the network shows broken, which is the point: Shipyard's
reports must render offline.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    sys.exit("no Chromium on PATH: apt-get update && apt-get install -y chromium")


def screenshot(page: Path, out: Path, *, width: int = 1280, height: int = 3000) -> Path:
    """Render ``page`` at ``width`` x ``height`` CSS pixels into the PNG ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="shipyard-chromium-") as profile:
        subprocess.run(
            [
                chromium(),
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--screenshot={out.resolve()}",
                f"--window-size={width},{height}",
                page.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return out


def tile(picture: Path, height: int) -> list[Path]:
    """Cut ``picture`` into pieces ``height`` pixels tall, top to bottom."""
    from PIL import Image

    with Image.open(picture) as image:
        width, total = image.size
        pieces = []
        for i, top in enumerate(range(0, total, height), start=1):
            piece = picture.with_name(f"{picture.stem}-{i}{picture.suffix}")
            image.crop((0, top, width, min(top + height, total))).save(piece)
            pieces.append(piece)
    return pieces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("out", type=Path, nargs="?")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("--tile", type=int, default=0, help="also cut into pieces this tall")
    args = parser.parse_args()
    out = args.out or args.page.with_suffix(".png")
    print(screenshot(args.page, out, width=args.width, height=args.height))
    for piece in tile(out, args.tile) if args.tile else ():
        print(piece)


if __name__ == "__main__":
    main()
