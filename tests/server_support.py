"""Helpers for server tests: a guard, API keys, and real `aimds serve` processes on free ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from redis_fixture import free_port

SRC = str(Path(__file__).resolve().parents[1] / "src")


def make_guard():  # noqa: ANN201
    from aimds import Guard

    return Guard()


class ServerProcess:
    """``python -m aimds.cli serve`` in its own process group, waited on until /healthz answers."""

    def __init__(self, env: dict[str, str], workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = os.environ | {"PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
                                 "AIMDS_ACCESS_LOG": "false"} | env
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from aimds.cli import main; main()", "serve", "--port", str(self.port),
             "--workers", str(workers)],
            env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=0.5).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.kill()
        raise RuntimeError("server did not start")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(10)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = os.environ | {"PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")} | env
    return subprocess.run([sys.executable, "-c", "from aimds.cli import main; main()", *args],
                          env=full_env, capture_output=True, text=True, timeout=60)


def new_key(role: str, env: dict[str, str]) -> str:
    out = cli("keys", "create", "--role", role, env=env)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()[-1]
