"""A real MLflow tracking server on loopback for the registry tests: the full `mlflow` package from its
own virtualenv (`make mlflow-peer`, bench/.peers/mlflow), an SQLite backend and local artifacts in
a temporary folder."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
PEER = pathlib.Path(os.environ.get("ENMS_MLFLOW_PEER", ROOT / "bench" / ".peers" / "mlflow"))


def peer_missing() -> str | None:
    """Why the registry tests cannot run here, or `None`."""
    if not (PEER / "bin" / "mlflow").exists():
        return f"the MLflow peer virtualenv is missing ({PEER}); `make mlflow-peer` creates it"
    try:
        import mlflow  # noqa: F401
    except ImportError:
        return "mlflow-skinny is not installed in this virtualenv (pip install -r requirements-mlflow.txt)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MlflowServer:
    """`mlflow server` on 127.0.0.1:<free port>; `stop()` ends it, `start()` starts it again on the
    same port and store."""

    def __init__(self, folder: pathlib.Path, port: int | None = None):
        self.folder = folder
        self.port = port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 240.0) -> None:
        log = open(self.folder / "server.log", "ab")  # noqa: SIM115 - kept open for the process
        self.process = subprocess.Popen(
            [str(PEER / "bin" / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1", "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
             "--artifacts-destination", str(self.folder / "artifacts")],
            cwd=self.folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(self.folder / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, 15)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=10)
        self.process = None
