"""`hermetic serve` and `hermetic sync` as subprocesses of the e2e tests.

Each process runs `.venv/bin/hermetic` (the one beside ``sys.executable``) in its own
process group (``start_new_session``), with stdout and stderr going to a log file in the
test's tmp dir; on Linux it also gets SIGKILL when the test process dies
(``PR_SET_PDEATHSIG``). ``stop()`` sends SIGTERM to the group, then SIGKILL, and waits;
every process still running at interpreter exit is stopped too, so a run never leaves a
``hermetic serve``/``hermetic sync`` behind.

``ServeProcess`` binds 127.0.0.1 on a free port (retried when the port is taken between
picking and binding) and is ready once ``GET /readyz`` answers 200 over TLS, verified
against the CA bundle. ``SyncProcess`` is ready once its log says it leads.

Failures raise ``HermeticProcessError`` with the tail of the process's log; ``tails()``
gives the tails of every process started in this session (the fixtures attach them to
failed tests' reports).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .cluster import stop_group

HERMETIC = Path(sys.executable).parent / "hermetic"


class HermeticProcessError(RuntimeError):
    """A hermetic subprocess failed to start, died, or did not become ready."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def _die_with_parent() -> None:  # in the child, between fork and exec
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


_STARTED: list[HermeticProcess] = []


def started() -> list[HermeticProcess]:
    """Every hermetic process started in this session, oldest first."""
    return list(_STARTED)


def tails(lines: int = 12, width: int = 400) -> str:
    """The log tails of every hermetic process started in this session (long lines cut)."""
    return "\n".join(
        f"--- {p.name} ({'running' if p.alive() else f'exited {p.returncode}'}), {p.log}\n"
        + "\n".join(line[:width] for line in tail(p.log, lines).splitlines())
        for p in _STARTED
    )


@atexit.register
def _stop_all() -> None:
    for p in reversed(_STARTED):
        p.stop()


class HermeticProcess:
    """One `hermetic ...` subprocess in its own process group, logging to `log`."""

    def __init__(
        self, name: str, args: Sequence[str], log: Path, env: dict[str, str] | None = None
    ):
        self.name = name
        self.argv = [str(HERMETIC), *args]
        self.log = log
        self.env = env
        self.popen: subprocess.Popen[bytes] | None = None
        self._log_fh: Any = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> HermeticProcess:
        if self.alive():
            raise HermeticProcessError(f"{self.name} is already running")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_fh = open(self.log, "ab")  # noqa: SIM115 - closed in stop()
        self._log_fh.write(("$ " + " ".join(self.argv) + "\n").encode())
        self._log_fh.flush()
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group, pgid == pid
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            env=self.env,
        )
        if self not in _STARTED:
            _STARTED.append(self)
        return self

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll() if self.popen else None

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM the process group, SIGKILL it after `grace` s; the exit code (idempotent)."""
        if self.popen is None:
            return None
        code = stop_group(self.popen, grace)
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
        return code

    def tail(self, lines: int = 30) -> str:
        return tail(self.log, lines)

    def fail(self, what: str) -> HermeticProcessError:
        state = "running" if self.alive() else f"exited with {self.returncode}"
        return HermeticProcessError(
            f"{self.name} {what} ({state}); {self.log} ends with:\n{self.tail()}"
        )

    def wait_for(self, what: str, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise self.fail(f"exited before {what}")
            if ready():
                return
            time.sleep(0.1)
        raise self.fail(f"not {what} after {timeout:.0f}s")

    def log_events(self) -> list[dict[str, Any]]:
        """The JSON lines of the log (hermetic logs JSON on stderr)."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    out.append(json.loads(line))
        return out


# --------------------------------------------------------------------------------------
# hermetic serve


class ServeProcess(HermeticProcess):
    """`hermetic serve --policy ... --cert ... --key ... --host 127.0.0.1 --port PORT`."""

    def __init__(
        self,
        policy: Sequence[str | os.PathLike[str]],
        cert: Path,
        key: Path,
        ca_bundle: Path,
        log: Path,
        *,
        port: int | None = None,
        reload_interval: float = 0.25,
    ) -> None:
        self.policy = [str(p) for p in policy]
        self.cert, self.key, self.ca_bundle = cert, key, ca_bundle
        self.port = port or free_port()
        self.reload_interval = reload_interval
        super().__init__("hermetic serve", self._args(), log)

    def _args(self) -> list[str]:
        return [
            "serve",
            "--policy",
            *self.policy,
            "--cert",
            str(self.cert),
            "--key",
            str(self.key),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--reload-interval",
            str(self.reload_interval),
        ]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def ssl_context(self) -> ssl.SSLContext:
        """Trusts `ca_bundle` as it is now (re-read: a rotation changes it)."""
        return ssl.create_default_context(cafile=str(self.ca_bundle))

    def get(self, path: str, timeout: float = 5) -> tuple[int, str]:
        """GET over TLS (verified, host 127.0.0.1): (status, body); raises OSError when down."""
        try:
            with urllib.request.urlopen(
                self.url + path, context=self.ssl_context(), timeout=timeout
            ) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def ready(self) -> bool:
        try:
            status, body = self.get("/readyz", timeout=2)
        except (OSError, ValueError):
            return False
        return status == 200 and json.loads(body).get("status") == "ready"

    def start_ready(self, timeout: float = 30.0, *, keep_port: bool = False) -> ServeProcess:
        """Start and wait for /readyz; pick another port if this one was taken (unless
        `keep_port`: the webhook configurations point at it)."""
        for attempt in range(3):
            self.argv = [str(HERMETIC), *self._args()]
            self.start()
            try:
                self.wait_for("ready on " + self.url, self.ready, timeout)
                return self
            except HermeticProcessError:
                in_use = "in use" in self.tail() or "Address already" in self.tail()
                self.stop()
                if keep_port or not in_use or attempt == 2:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def metrics(self) -> str:
        status, body = self.get("/metrics")
        if status != 200:
            raise self.fail(f"answered /metrics with {status}")
        return body

    def admissions(self, **labels: str) -> float:
        """The sum of `hermetic_admissions_total` over the series with these label values
        (e.g. endpoint="mutate", decision="denied"); all series without arguments."""
        total = 0.0
        for line in self.metrics().splitlines():
            if not line.startswith("hermetic_admissions_total{"):
                continue
            series, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in series for k, v in labels.items()):
                total += float(value)
        return total

    def served_certificate(self) -> bytes:
        """The DER certificate the server presents now (no verification)."""
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with (
            socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock,
            ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return der


# --------------------------------------------------------------------------------------
# hermetic sync


class SyncProcess(HermeticProcess):
    """`hermetic sync --policy ... --kubeconfig ...` (leader-elected, runs until stopped)."""

    def __init__(
        self,
        policy: Sequence[str | os.PathLike[str]],
        kubeconfig: Path,
        log: Path,
        *,
        resync_seconds: float = 30,
        extra: Sequence[str] = (),
    ) -> None:
        args = [
            "sync",
            "--policy",
            *[str(p) for p in policy],
            "--kubeconfig",
            str(kubeconfig),
            "--resync-seconds",
            f"{resync_seconds:g}",
            *extra,
        ]
        super().__init__("hermetic sync", args, log)

    def start_leading(self, timeout: float = 30.0) -> SyncProcess:
        self.start()
        self.wait_for("leading", lambda: self.has_event("leading"), timeout)
        return self

    def has_event(self, name: str, **fields: Any) -> bool:
        return any(
            e.get("event") == name and all(e.get(k) == v for k, v in fields.items())
            for e in self.log_events()
        )
