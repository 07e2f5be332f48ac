"""``python -m shipyard.serving --source module:factory [--host H] [--port P] [ENDPOINT=REF ...]``

Reads the project's settings (``shipyard.yaml``, ``SHIPYARD_SERVING__*``) from the
current directory; ``--source`` names a callable taking the settings and returning a
ModelSource. ``shipyard serve`` is the same with the registry as the source.
"""

from __future__ import annotations

import argparse
import sys

from shipyard.config import load_settings
from shipyard.errors import ShipyardError
from shipyard.serving.process import load_source, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shipyard.serving")
    parser.add_argument("endpoints", nargs="*", metavar="ENDPOINT=REFERENCE")
    parser.add_argument("--source", required=True, help="module:callable returning a ModelSource")
    parser.add_argument("--host", default=None, help="bind address (default serving.host)")
    parser.add_argument("--port", type=int, default=None, help="port (default serving.port)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        source = load_source(args.source, settings)
        serve(
            settings, source, args.endpoints,
            host=args.host, port=args.port, log_level=args.log_level,
        )  # fmt: skip
    except ShipyardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
