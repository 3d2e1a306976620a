"""``python -m appliance.engines.service stt|tts --config FILE --socket PATH``: one model service.

The config file is the JSON the daemon's supervisor writes (the whole appliance config). Prints
one JSON line ``{"event": "ready", "pid": N}`` on stdout once the model is loaded and the socket
listens; logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m appliance.engines.service")
    ap.add_argument("service", choices=("stt", "tts"))
    ap.add_argument("--config", required=True, help="the appliance config as JSON")
    ap.add_argument("--socket", required=True, help="the Unix socket to listen on")
    args = ap.parse_args(argv)

    from appliance.core.config import Config
    from appliance.core.logs import setup_logging
    from appliance.engines.service.server import serve

    cfg = Config.model_validate(json.loads(Path(args.config).read_text()))
    setup_logging(cfg, rotate=False)

    def ready() -> None:
        sys.stdout.write(json.dumps({"event": "ready", "service": args.service, "pid": os.getpid()}) + "\n")
        sys.stdout.flush()

    try:
        asyncio.run(serve(args.service, cfg, Path(args.socket), ready=ready))
    except Exception as exc:  # noqa: BLE001 - one line for the supervisor's log, then exit 1
        print(f"{args.service} service failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
