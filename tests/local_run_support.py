"""`synth-pipeline run` driven from tests: a free port, the caller's environment without the test session's state
folder, the command as a process whose output is read line by line, and the steward's CLI against its API server."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

CLI = str(Path(sys.executable).parent / "synth-pipeline")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def env_without_state(**extra: str) -> dict[str, str]:
    """The caller's environment without the test session's state folder: the project's `.state/` is used."""
    env = {key: value for key, value in os.environ.items() if key != "SYNTH_PIPELINE_STATE"}
    env.update(extra)
    return env


class RunProcess:
    """`synth-pipeline run` as a process, its output read line by line."""

    def __init__(self, project: Path, port: int, *extra: str, release: str = "heart_disease"):
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [CLI, "run", release, "--releases", str(project / "releases"), "--port", str(port), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=project, env=env_without_state())
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout_s: float = 600) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                assert self.process.poll() is None, "".join(self.output)
                continue
            self.output.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} never printed:\n{''.join(self.output)}")

    def finish(self, timeout_s: float = 300) -> tuple[int, str]:
        code = self.process.wait(timeout=timeout_s)
        time.sleep(0.5)
        while not self.lines.empty():
            self.output.append(self.lines.get())
        return code, "".join(self.output)


def steward(project: Path, url: str, *arguments: str) -> subprocess.CompletedProcess:
    env = env_without_state(SYNTH_PIPELINE_STEWARD_USER="steward",
               SYNTH_PIPELINE_STEWARD_PASSWORD_FILE=str(project / ".state" / "airflow" / "steward_passwords.json"))
    env.pop("SYNTH_PIPELINE_STEWARD_PASSWORD", None)
    return subprocess.run([CLI, *arguments, "--api-url", url], capture_output=True, text=True, env=env, timeout=120)
