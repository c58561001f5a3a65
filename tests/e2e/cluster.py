"""A throw-away Kubernetes control plane for end-to-end tests.

``Cluster`` starts a real etcd and kube-apiserver (and, by default, a
kube-controller-manager) built by ``tests/e2e/build.sh``, all bound to
127.0.0.1 on free ports, with certificates it generates in its work dir.
There is no scheduler and no kubelet: pods are stored and stay Pending.

    with Cluster(workdir, bin_dir) as c:
        subprocess.run(["kubectl", "--kubeconfig", str(c.kubeconfig), "get", "ns"])

Every process runs in its own process group; ``stop()`` (also called by
``__exit__``, on a failed start and at interpreter exit) kills the groups,
and on Linux the children get SIGKILL if this process dies.  Each process
logs to ``<workdir>/logs/<name>.log``; a failed start raises
``ClusterError`` with the tails of those logs.

Only the standard library and ``cryptography`` are needed here.  Run it by
hand with ``python tests/e2e/cluster.py up [WORKDIR]``.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import ipaddress
import json
import os
import shutil
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
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

SERVICE_CIDR = "10.0.0.0/24"
KUBERNETES_SERVICE_IP = "10.0.0.1"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
CLUSTER_NAME = "hermetic-e2e"


class ClusterError(RuntimeError):
    """The control plane failed to start or to become ready."""


def k8s_version() -> str:
    """The k8s.io/kubernetes version pinned in tests/e2e/go.mod."""
    for line in (HERE / "go.mod").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "k8s.io/kubernetes" and parts[1].startswith("v"):
            return parts[1]
    raise ClusterError("no k8s.io/kubernetes version in tests/e2e/go.mod")


def default_bin_dir() -> Path:
    """Where build.sh puts the binaries (``$HERMETIC_E2E_BIN_DIR`` overrides)."""
    env = os.environ.get("HERMETIC_E2E_BIN_DIR")
    return Path(env) if env else REPO / ".cache" / "e2e-bin" / k8s_version()


BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager")


def missing_binaries(bin_dir: Path) -> list[str]:
    return [b for b in BINARIES if not os.access(bin_dir / b, os.X_OK)]


# --------------------------------------------------------------------------
# certificates


def _write_key(path: Path, key: Any) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


class PKI:
    """A CA plus the certificates and keys of one test cluster, as PEM files."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.UTC)
        self._not_before = now - datetime.timedelta(hours=1)
        self._not_after = now + datetime.timedelta(days=7)

        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = _name(f"{CLUSTER_NAME}-ca")
        self.ca_cert = (
            self._builder(ca_name, self.ca_key.public_key())
            .issuer_name(ca_name)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.ca_key.public_key()),
                critical=False,
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        self.ca_crt = directory / "ca.crt"
        _write_cert(self.ca_crt, self.ca_cert)
        _write_key(directory / "ca.key", self.ca_key)

        # kube-apiserver serving certificate.
        self.serving_crt, self.serving_key = self.issue(
            "kube-apiserver",
            "kube-apiserver",
            server=True,
            dns=[
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ips=["127.0.0.1", "::1", KUBERNETES_SERVICE_IP],
        )
        # Cluster admin: group system:masters bypasses authorization.
        self.admin_crt, self.admin_key = self.issue("admin", "admin", org="system:masters")

        # Service-account token signing key pair.
        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.sa_key = directory / "sa.key"
        self.sa_pub = directory / "sa.pub"
        _write_key(self.sa_key, sa_key)
        self.sa_pub.write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def _builder(self, subject: x509.Name, public_key: Any) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._not_before)
            .not_valid_after(self._not_after)
        )

    def issue(
        self,
        basename: str,
        cn: str,
        *,
        org: str | None = None,
        server: bool = False,
        dns: Sequence[str] = (),
        ips: Sequence[str] = (),
    ) -> tuple[Path, Path]:
        """Issue a leaf certificate signed by the cluster CA; return (crt, key) paths."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            self._builder(_name(cn, org), key.public_key())
            .issuer_name(self.ca_cert.subject)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()),
                critical=False,
            )
        )
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.ca_key, hashes.SHA256())
        crt_path, key_path = self.dir / f"{basename}.crt", self.dir / f"{basename}.key"
        _write_cert(crt_path, cert)
        _write_key(key_path, key)
        return crt_path, key_path


# --------------------------------------------------------------------------
# processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class _Proc:
    def __init__(self, name: str, argv: list[str], log: Path, *, die_with_parent: bool) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self._log_fh = open(log, "ab")  # noqa: SIM115 - closed in kill()
        self._log_fh.write(("$ " + " ".join(argv) + "\n").encode())
        self._log_fh.flush()
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group == pid
            preexec_fn=_die_with_parent if die_with_parent and sys.platform == "linux" else None,
        )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self, grace: float = 10.0) -> None:
        stop_group(self.popen, grace)
        self._log_fh.close()


def stop_group(popen: subprocess.Popen[bytes], grace: float = 10.0) -> int | None:
    """SIGTERM the process group led by `popen`, SIGKILL it after `grace` s, then SIGKILL
    whatever is left in the group; the leader's exit code. Safe to call twice."""
    pgid = popen.pid
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
        try:
            popen.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        break
    # The leader is gone; nothing else may stay in its group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    return popen.returncode


_LIVE: set[Cluster] = set()


@atexit.register
def _stop_all() -> None:
    for cluster in list(_LIVE):
        cluster.stop()


class Cluster:
    """etcd + kube-apiserver (+ kube-controller-manager) on loopback.

    Attributes once started: ``kubeconfig`` (admin kubeconfig path),
    ``server`` (``https://127.0.0.1:PORT``), ``ca_file``, ``client_cert``,
    ``client_key``, ``etcd_url``, ``workdir``, ``logs``, ``pki``,
    ``start_seconds`` (time to ready).

    ``controller_manager=True`` (default) also runs kube-controller-manager
    (all default controllers: Jobs create Pods, namespaces get their
    ``default`` ServiceAccount, deletion is cleaned up).  The ServiceAccount
    admission plugin stays enabled then, so pods look as on a real cluster
    (``serviceAccountName`` defaulted, ``kube-api-access-*`` volume); it
    retries for ~1-2 s while the controller creates the ``default``
    ServiceAccount of a new namespace, so pods can be created right after
    the namespace.  With ``controller_manager=False`` nothing would create
    that ServiceAccount, so the plugin is disabled instead.
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        bin_dir: str | os.PathLike[str] | None = None,
        *,
        controller_manager: bool = True,
        extra_apiserver_args: Sequence[str] = (),
        extra_controller_manager_args: Sequence[str] = (),
        start_timeout: float = 120.0,
        die_with_parent: bool = True,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.bin_dir = Path(bin_dir) if bin_dir else default_bin_dir()
        self.with_controller_manager = controller_manager
        self.extra_apiserver_args = list(extra_apiserver_args)
        self.extra_controller_manager_args = list(extra_controller_manager_args)
        self.start_timeout = start_timeout
        self.die_with_parent = die_with_parent
        self.logs = self.workdir / "logs"
        self.kubeconfig = self.workdir / "admin.kubeconfig"
        self.server = ""
        self.etcd_url = ""
        self.start_seconds = 0.0
        self._procs: list[_Proc] = []

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Cluster:
        missing = missing_binaries(self.bin_dir)
        if missing:
            raise ClusterError(
                f"missing {', '.join(missing)} in {self.bin_dir}; run tests/e2e/build.sh"
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        _LIVE.add(self)
        t0 = time.monotonic()
        try:
            self.pki = PKI(self.workdir / "pki")
            self.ca_file = self.pki.ca_crt
            self.client_cert, self.client_key = self.pki.admin_crt, self.pki.admin_key
            # A port picked free can be taken before the server binds it: retry.
            for attempt in range(3):
                try:
                    self._start_etcd()
                    self._start_apiserver()
                    break
                except _PortInUse:
                    if attempt == 2:
                        raise
                    self._kill_all()
            self._write_kubeconfig()
            if self.with_controller_manager:
                self._start_controller_manager()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """Kill every process this cluster started (idempotent)."""
        self._kill_all()
        _LIVE.discard(self)

    def _kill_all(self) -> None:
        while self._procs:
            self._procs.pop().kill()  # reverse start order

    def pids(self) -> list[int]:
        return [p.popen.pid for p in self._procs if p.alive()]

    # -- the processes -----------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> _Proc:
        proc = _Proc(name, argv, self.logs / f"{name}.log", die_with_parent=self.die_with_parent)
        self._procs.append(proc)
        return proc

    def _wait(self, proc: _Proc, what: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                log = _tail(proc.log)
                if "address already in use" in log:
                    raise _PortInUse(log)
                raise ClusterError(
                    f"{proc.name} exited with {proc.popen.returncode} before {what}; "
                    f"{proc.log} ends with:\n{log}"
                )
            if ready():
                return
            time.sleep(0.2)
        raise ClusterError(
            f"{proc.name} not {what} after {self.start_timeout:.0f}s; logs:\n"
            + "\n".join(f"--- {p.log}\n{_tail(p.log)}" for p in self._procs)
        )

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        data = self.workdir / "etcd-data"
        shutil.rmtree(data, ignore_errors=True)
        proc = self._spawn(
            "etcd",
            [
                str(self.bin_dir / "etcd"),
                "--name=e2e",
                f"--data-dir={data}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=e2e=http://127.0.0.1:{peer}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync",  # throw-away data: skip fsync, much faster
                "--log-level=warn",
            ],
        )

        def healthy() -> bool:
            body = _http_get(self.etcd_url + "/health", None)
            return body is not None and json.loads(body).get("health") == "true"

        self._wait(proc, "healthy", healthy)

    def _start_apiserver(self) -> None:
        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        pki = self.pki
        disabled = [] if self.with_controller_manager else ["ServiceAccount"]
        argv = [
            str(self.bin_dir / "kube-apiserver"),
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--etcd-servers={self.etcd_url}",
            f"--tls-cert-file={pki.serving_crt}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_crt}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            # Defaults include MutatingAdmissionWebhook and ValidatingAdmissionWebhook.
            "--enable-admission-plugins=MutatingAdmissionWebhook,ValidatingAdmissionWebhook",
            *([f"--disable-admission-plugins={','.join(disabled)}"] if disabled else []),
            "--allow-privileged=true",
            # No kubelet/node behind 127.0.0.1: don't publish it as the
            # `kubernetes` Service's endpoint (loopback endpoints are invalid).
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            *self.extra_apiserver_args,
        ]
        proc = self._spawn("kube-apiserver", argv)
        self._wait(proc, "ready", lambda: self._get("/readyz") == "ok")

    def _start_controller_manager(self) -> None:
        pki = self.pki
        proc = self._spawn(
            "kube-controller-manager",
            [
                str(self.bin_dir / "kube-controller-manager"),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                "--leader-elect=false",
                "--controllers=*",
                "--use-service-account-credentials=false",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_crt}",
                f"--cluster-signing-cert-file={pki.ca_crt}",
                f"--cluster-signing-key-file={self.pki.dir / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                *self.extra_controller_manager_args,
            ],
        )
        # Ready once the serviceaccount controller has done its first sync.
        self._wait(
            proc,
            "creating the default ServiceAccount",
            lambda: self._get("/api/v1/namespaces/default/serviceaccounts/default") is not None,
        )

    # -- client side -------------------------------------------------------

    def _write_kubeconfig(self) -> None:
        self.kubeconfig.write_text(
            f"""apiVersion: v1
kind: Config
clusters:
- name: {CLUSTER_NAME}
  cluster:
    server: {self.server}
    certificate-authority: {self.ca_file}
users:
- name: admin
  user:
    client-certificate: {self.client_cert}
    client-key: {self.client_key}
contexts:
- name: {CLUSTER_NAME}
  context:
    cluster: {CLUSTER_NAME}
    user: admin
current-context: {CLUSTER_NAME}
"""
        )

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.load_cert_chain(str(self.client_cert), str(self.client_key))
        return ctx

    def _get(self, path: str) -> str | None:
        return _http_get(self.server + path, self.ssl_context())

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """A JSON request to the API server as cluster admin."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.server + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        with urllib.request.urlopen(req, context=self.ssl_context(), timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run ``kubectl --kubeconfig <admin> ARGS`` and capture its output."""
        kubectl = shutil.which("kubectl")
        if not kubectl:
            raise ClusterError("kubectl is not on PATH")
        proc = subprocess.run(
            [kubectl, "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise subprocess.CalledProcessError(
                proc.returncode, proc.args, proc.stdout, proc.stderr
            )
        return proc

    def api_client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` for the admin kubeconfig."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))

    @property
    def env(self) -> dict[str, str]:
        """os.environ plus KUBECONFIG pointing at the admin kubeconfig."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}


class _PortInUse(ClusterError):
    pass


def _http_get(url: str, ctx: ssl.SSLContext | None) -> str | None:
    """GET url; the body on 200, None on any error or other status."""
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
            return str(resp.read().decode())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str]) -> int:
    if len(argv) < 1 or argv[0] != "up":
        print("usage: python tests/e2e/cluster.py up [WORKDIR]  (Ctrl-C stops it)")
        return 2
    workdir = Path(argv[1]) if len(argv) > 1 else REPO / ".cache" / "e2e-cluster"
    with Cluster(workdir) as cluster:
        print(f"ready in {cluster.start_seconds:.1f}s: {cluster.server}")
        print(f"export KUBECONFIG={cluster.kubeconfig}")
        print(f"logs: {cluster.logs}   (Ctrl-C to stop)")
        signal.signal(signal.SIGTERM, _interrupt)
        with contextlib.suppress(KeyboardInterrupt):
            while all(p.alive() for p in cluster._procs):
                time.sleep(1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
