"""Serve the what-if explorer (``talentsim explore``): a local Solara server, no network needed.

Importing this module raises ImportError when the ``explore`` extra is missing; the command turns that into a
one-line message.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import warnings
from pathlib import Path

for _package in ("solara", "solara_assets", "uvicorn"):  # the extra; imported once the environment is set
    if importlib.util.find_spec(_package) is None:
        raise ImportError(f"No module named {_package!r}", name=_package.replace("_", "-"))

SCENARIO_ENV = "TALENTSIM_EXPLORE_SCENARIO"
SIZE_ENV = "TALENTSIM_EXPLORE_SIZE"  # "REPLICATES,RESEARCHERS" the page starts with

__all__ = ["PortUnavailable", "serve"]

# The page must work with no network (a meeting room, an air-gapped office): no usage telemetry, assets from
# the solara-assets package rather than a CDN, no file watcher.
SERVER_ENVIRONMENT = {
    "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False",
    "SOLARA_MODE": "production",
    "SOLARA_APP": "simulation.explore_app:Page",
}


class PortUnavailable(OSError):
    """The address asked for cannot be served on (in use, or not this machine's)."""


def bind(host: str, port: int) -> socket.socket:
    """Return a listening socket on ``host``:``port`` (port 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PortUnavailable(f"cannot serve on {host}:{port} ({exc.strerror}); choose another with --port or "
                              "--host") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(scenario: str | Path, *, host: str = "127.0.0.1", port: int = 8765, replicates: int = 5,
          researchers: int = 10_000) -> int:
    """Serve the explorer for ``scenario`` until interrupted; return the exit code."""
    os.environ.update(SERVER_ENVIRONMENT)
    os.environ[SCENARIO_ENV] = str(Path(scenario).resolve())
    os.environ[SIZE_ENV] = f"{replicates},{researchers}"
    import uvicorn

    warnings.filterwarnings("ignore", message="Cookies with samesite=none")  # plain http on this machine
    sock = bind(host, port)
    shown_host = host if host not in ("0.0.0.0", "::") else socket.gethostname()
    address = f"http://{shown_host}:{sock.getsockname()[1]}/"
    print(f"talentsim explore: starting from {scenario}", flush=True)
    print(f"Open {address} in your browser (Ctrl-C to stop)", flush=True)
    config = uvicorn.Config("solara.server.starlette:app", log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    print("talentsim explore: stopped", file=sys.stderr)
    return 0
