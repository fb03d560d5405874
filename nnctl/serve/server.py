"""Loading the model to serve and running the app under uvicorn on a bound socket."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from nnctl.errors import InputError


def require_serve() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise InputError("nnctl serve needs starlette and uvicorn: pip install 'nnctl[serve]'") from None


def load_model(target: str | os.PathLike, checkpoint: str | None = None,
               warn: Callable[[str], None] | None = None) -> Any:
    """A FrozenModel for a frozen file, or for a run/checkpoint folder frozen in memory (verified)."""
    from nnctl.export.freezing import freeze_run
    from nnctl.export.frozen import load_frozen, load_frozen_bytes
    from nnctl.train.rundir import reopen, resolve_target
    t = resolve_target(target)
    if t.kind == "frozen":
        if checkpoint is not None:
            raise InputError(f"{t.path} is a frozen file; --checkpoint applies to a run directory")
        return load_frozen(t.path)
    run = reopen(t.run_dir, checkpoint or "latest", t.checkpoint, warn)
    try:
        data, _ = freeze_run(run, None)
    finally:
        run.close()
    return load_frozen_bytes(data, str(t.path))


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: the system picks a free one)."""
    if not 0 <= port <= 65535:
        raise InputError(f"--port must be in 0..65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise InputError(f"--host {host}: cannot resolve it: {e.strerror or e}") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def make_server(app: Any) -> Any:
    import uvicorn
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_keep_alive=5)
    return uvicorn.Server(config)


def serve(target: str | os.PathLike, host: str = "127.0.0.1", port: int = 8000, checkpoint: str | None = None,
          max_body: int | None = None, max_batch: int = 256, max_wait_ms: float = 2.0,
          on_ready: Callable[[str], None] | None = None, warn: Callable[[str], None] | None = None) -> None:
    """The library form of ``nnctl serve``: blocks until interrupted (Ctrl-C / SIGTERM)."""
    require_serve()
    from nnctl.serve.app import MAX_BODY, create_app
    model = load_model(target, checkpoint, warn)
    sock = bind(host, port)
    try:
        app = create_app(model, max_body=max_body or MAX_BODY, max_batch=max_batch, max_wait=max_wait_ms / 1000)
        server = make_server(app)
        h, p = sock.getsockname()[:2]
        url = f"http://{'[' + h + ']' if ':' in h else h}:{p}"
        if on_ready is not None:
            on_ready(f"serving {target} on {url} (POST {url}/v1/predict, GET {url}/v1/model, GET {url}/healthz)")
        server.run(sockets=[sock])
    finally:
        sock.close()
        model.close()
