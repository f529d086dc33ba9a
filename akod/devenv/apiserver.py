"""A real kube-apiserver + etcd on loopback, started and stopped like a test fixture.

akod's watch and reconcile code must be tested against the real Kubernetes API semantics:
resourceVersions, 409 on a stale write, the status subresource, label selectors, watch streams
that end, and ``410 Gone`` after compaction. Fakes get exactly these wrong (see
``shared/reference/k8s-test-env.md``), so the tests and ``akod demo`` run the real thing, the way
controller-runtime's envtest does: kube-apiserver v1.20.2 and etcd 3.4.23, built once per machine
from Debian packages by ``build-kube-apiserver.sh`` (:func:`ensure_binaries`), then started here on
free loopback ports in a throw-away directory, with no controllers, scheduler or kubelet.

What :class:`KubeApiServer` sets up and why:

- a static token file with an ``admin`` token in ``system:masters`` and optional extra users
  without any group, so that RBAC manifests can be tested with a limited identity;
- service-account keys made with ``cryptography`` (the apiserver refuses to start without them);
- ``--disable-admission-plugins=ServiceAccount`` (no controller creates default service accounts)
  and ``--enable-priority-and-fairness=false`` (nothing to gain here, and it adds startup work);
- ``--watch-cache=false`` by default: watches then read etcd directly, so :meth:`compact_etcd`
  turns every older resourceVersion into ``410 Gone`` on demand. With the watch cache on, old
  versions are replayed from memory instead and 410 cannot be forced.
- periodic compaction off unless ``compaction_interval_s`` is given, so that 410 happens only when
  a test asks for it;
- ``extra_args``: more flags, merged with these (:func:`merge_flags`): a list flag such as
  ``--disable-admission-plugins`` or ``--runtime-config`` given again adds to the list instead of
  replacing it, any other flag given again replaces the default. :data:`API_SURFACE_1_18` makes
  the server look like Kubernetes 1.18 to a client: Ingress and IngressClass only in
  ``networking.k8s.io/v1beta1`` (and Ingress in ``extensions/v1beta1``). Its second flag is needed:
  the DefaultIngressClass admission plugin reads v1 IngressClasses, and with that API off the
  apiserver never becomes ready.

Ready means ``/readyz`` answers ``ok`` *and* namespace ``default`` exists (it appears about a
second after readyz; creating into it earlier gives 404). Both are polled against a deadline.

The processes get ``PR_SET_PDEATHSIG`` so they die with the thread that started them even when
the test run is killed; start the server from a thread that lives as long as it should (the main
thread or the event loop's), or pass ``die_with_parent=False``.
"""

from __future__ import annotations

import base64
import ctypes
import fcntl
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from akod.devenv.ports import free_port

__all__ = ["API_SURFACE_1_18", "KubeApiServer", "KubeApiServerError", "default_cache_dir", "ensure_binaries",
           "merge_flags"]

K8S_VERSION = "1.20.2"
BUILD_SCRIPT = Path(__file__).with_name("build-kube-apiserver.sh")
ADMIN_USER = "admin"

_PR_SET_PDEATHSIG = 1
_POLL_INTERVAL_S = 0.1
# Flags whose value is a comma-separated list: several occurrences are merged into one.
LIST_FLAGS = frozenset({"--disable-admission-plugins", "--enable-admission-plugins", "--runtime-config"})
# The API surface of Kubernetes 1.18 (the seed's clusters run 1.18.10), on this 1.20 apiserver.
API_SURFACE_1_18 = ("--runtime-config=networking.k8s.io/v1=false", "--disable-admission-plugins=DefaultIngressClass")


class KubeApiServerError(RuntimeError):
    """The binaries could not be built, or a process did not start or become ready."""


def default_cache_dir() -> Path:
    """Where the build script caches the binaries (same rule as the script)."""
    if cache := os.environ.get("AKOD_K8S_CACHE"):
        return Path(cache)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "akod" / f"k8s-{K8S_VERSION}"


def _has_binaries(directory: Path) -> bool:
    return all(os.access(directory / name, os.X_OK) for name in ("kube-apiserver", "etcd"))


def ensure_binaries(*, stderr: IO[str] | int | None = None) -> Path:
    """Return the directory holding ``kube-apiserver`` and ``etcd``, building them if missing.

    The build takes about four minutes and ~150 MB of downloads on a fresh machine; the script is
    idempotent and returns at once when the cache is filled. A file lock keeps two processes (two
    pytest runs) from building at the same time. Its progress goes to ``stderr`` (default: this
    process's file descriptor 2).
    """
    cache = default_cache_dir()
    if _has_binaries(cache):
        return cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache.parent / f".k8s-{K8S_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _has_binaries(cache):  # built by whoever held the lock before us
            return cache
        result = subprocess.run(
            ["bash", str(BUILD_SCRIPT)],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "AKOD_K8S_CACHE": str(cache)},
            check=False,
        )
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        raise KubeApiServerError(
            f"building kube-apiserver failed (exit {result.returncode}): run "
            f"`bash {BUILD_SCRIPT}` to see why (needs apt-get access to Debian bookworm)"
        )
    built = Path(lines[-1])
    if not _has_binaries(built):
        raise KubeApiServerError(f"{BUILD_SCRIPT} reported {built}, which lacks kube-apiserver or etcd")
    return built


def merge_flags(defaults: Sequence[str], extra: Sequence[str]) -> list[str]:
    """`defaults` then `extra`, each ``--flag=value`` once: list flags (:data:`LIST_FLAGS`) joined,
    their items deduplicated (``--runtime-config`` keys: the last value wins), other flags replaced."""
    order: list[str] = []
    values: dict[str, str] = {}
    items: dict[str, dict[str, str]] = {}
    loose: list[str] = []
    for arg in (*defaults, *extra):
        name, eq, value = arg.partition("=")
        if not (eq and name.startswith("--")):
            loose.append(arg)
            continue
        if name not in values and name not in items:
            order.append(name)
        if name in LIST_FLAGS:
            kept = items.setdefault(name, {})
            for item in filter(None, (i.strip() for i in value.split(","))):
                kept[item.partition("=")[0]] = item
        else:
            values[name] = value
    merged = [f"{n}={','.join(items[n].values())}" if n in items else f"{n}={values[n]}" for n in order]
    return merged + loose


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _log_tail(path: Path, *, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class KubeApiServer:
    """etcd + kube-apiserver on loopback; a sync context manager, or call start() and stop().

    After start(): ``url`` (https://127.0.0.1:PORT), ``token`` (admin, ``system:masters``),
    ``ca_file`` (the apiserver's self-signed certificate), ``kubeconfig`` (a file for the admin),
    ``etcd_url``, and :meth:`kubeconfig_for` for the extra ``users``.

    Keywords: ``binaries`` (the dir with both programs; default :func:`ensure_binaries`),
    ``work_dir`` (kept after stop(); default a temp dir that stop() removes), ``compaction_interval_s``
    (the apiserver's own etcd compaction period; ``None``: never, only :meth:`compact_etcd`),
    ``watch_cache`` (keep ``False`` to be able to force 410), ``users`` (extra token users with
    no group), ``extra_args`` (more kube-apiserver flags, merged with the defaults: :func:`merge_flags`).
    """

    def __init__(
        self,
        *,
        binaries: Path | None = None,
        work_dir: Path | None = None,
        compaction_interval_s: float | None = None,
        watch_cache: bool = False,
        users: Sequence[str] = (),
        start_timeout_s: float = 60.0,
        stop_timeout_s: float = 10.0,
        die_with_parent: bool = True,
        extra_args: Sequence[str] = (),
    ) -> None:
        if ADMIN_USER in users:
            raise ValueError(f"user {ADMIN_USER!r} always exists; choose another name")
        self._binaries = binaries
        self._own_work_dir = work_dir is None
        self._work_dir_arg = work_dir
        self._compaction_interval_s = compaction_interval_s
        self._watch_cache = watch_cache
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._die_with_parent = die_with_parent
        self._extra_args = tuple(extra_args)
        self.tokens: dict[str, str] = {name: secrets.token_urlsafe(24) for name in (ADMIN_USER, *users)}
        self._etcd: subprocess.Popen[bytes] | None = None
        self._apiserver: subprocess.Popen[bytes] | None = None
        self._work_dir: Path | None = None
        self._port = 0
        self._etcd_port = 0
        self.startup_s: float | None = None

    # -- what a client needs -------------------------------------------------------------------

    @property
    def work_dir(self) -> Path:
        if self._work_dir is None:
            raise KubeApiServerError("not started")
        return self._work_dir

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._port}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self._etcd_port}"

    @property
    def token(self) -> str:
        return self.tokens[ADMIN_USER]

    @property
    def ca_file(self) -> Path:
        return self.work_dir / "certs" / "apiserver.crt"

    @property
    def kubeconfig(self) -> Path:
        return self.work_dir / "kubeconfig"

    @property
    def running(self) -> bool:
        return any(p is not None and p.poll() is None for p in (self._etcd, self._apiserver))

    def kubeconfig_for(self, user: str) -> Path:
        """A kubeconfig file for ``user`` (one of ``users``; no roles until a test binds some)."""
        path = self.work_dir / f"kubeconfig-{user}"
        if not path.exists():
            self._write_kubeconfig(path=path, user=user)
        return path

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
        """Start etcd and the apiserver; return once the API is ready (about 2-4 s)."""
        if self.running:
            raise KubeApiServerError("already started")
        began = time.monotonic()
        binaries = self._binaries or ensure_binaries()
        if self._work_dir_arg is not None:
            self._work_dir_arg.mkdir(parents=True, exist_ok=True)
            self._work_dir = self._work_dir_arg
        else:
            self._work_dir = Path(tempfile.mkdtemp(prefix="akod-kube-"))
        try:
            self._prepare_files()
            self._start_with_retries(binaries=binaries)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Terminate the apiserver then etcd (SIGKILL after ``stop_timeout_s``); remove a temp dir."""
        for proc in (self._apiserver, self._etcd):
            self._terminate(proc)
        self._apiserver = self._etcd = None
        if self._own_work_dir and self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None

    # -- etcd ----------------------------------------------------------------------------------

    def compact_etcd(self) -> int:
        """Compact etcd now so that every resourceVersion handed out before this call is too old.

        Writes a key outside ``/registry`` twice and compacts at the new revision: a watch from
        any older resourceVersion R starts at R+1, below the compacted revision, and gets
        ``410 Gone``. Works only with ``watch_cache=False`` (the default). Returns the revision.
        """
        key = base64.b64encode(b"/akod-devenv/compaction-bump").decode()
        revision = 0
        for _ in range(2):
            answer = self._etcd_call("/v3/kv/put", {"key": key, "value": base64.b64encode(b"x").decode()})
            revision = int(answer["header"]["revision"])
        self._etcd_call("/v3/kv/compaction", {"revision": str(revision), "physical": True})
        return revision

    def etcd_revision(self) -> int:
        """etcd's current revision (the newest resourceVersion anything can have)."""
        answer = self._etcd_call("/v3/kv/range", {"key": base64.b64encode(b"/registry").decode(), "limit": 1})
        return int(answer["header"]["revision"])

    def _etcd_call(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        # etcd's gRPC gateway (on by default in 3.4) speaks JSON over the client port.
        request = urllib.request.Request(
            self.etcd_url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.load(response)
        return answer

    # -- internals -----------------------------------------------------------------------------

    def _prepare_files(self) -> None:
        work = self.work_dir
        (work / "certs").mkdir(exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (work / "sa.key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        (work / "sa.pub").write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        rows = [f"{self.token},{ADMIN_USER},{ADMIN_USER},system:masters"]
        rows += [f"{token},{name},{name}" for name, token in self.tokens.items() if name != ADMIN_USER]
        (work / "tokens.csv").write_text("\n".join(rows) + "\n")
        for path in (work / "sa.key", work / "tokens.csv"):
            path.chmod(0o600)

    def _start_with_retries(self, *, binaries: Path, attempts: int = 3) -> None:
        deadline = time.monotonic() + self._start_timeout_s
        for attempt in range(1, attempts + 1):
            self._etcd_port, peer_port, self._port = free_port(), free_port(), free_port()
            self._etcd = self._spawn(self._etcd_argv(binaries=binaries, peer_port=peer_port), log="etcd.log")
            self._apiserver = self._spawn(self._apiserver_argv(binaries=binaries), log="kube-apiserver.log")
            try:
                self._wait_ready(deadline=deadline)
                self._write_kubeconfig(path=self.kubeconfig, user=ADMIN_USER)
                return
            except _ProcessExited as exited:
                # Most likely a port taken between free_port() and bind: try fresh ports.
                self._terminate(self._apiserver)
                self._terminate(self._etcd)
                shutil.rmtree(self.work_dir / "etcd", ignore_errors=True)
                if attempt == attempts or time.monotonic() >= deadline:
                    raise KubeApiServerError(str(exited)) from None

    def _etcd_argv(self, *, binaries: Path, peer_port: int) -> list[str]:
        client = f"http://127.0.0.1:{self._etcd_port}"
        peer = f"http://127.0.0.1:{peer_port}"
        return [
            str(binaries / "etcd"),
            "--name=default",
            f"--data-dir={self.work_dir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
            "--logger=zap",
            "--log-level=warn",
            "--log-outputs=stderr",
        ]

    def _apiserver_argv(self, *, binaries: Path) -> list[str]:
        work = self.work_dir
        interval = self._compaction_interval_s
        flags = [
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self._port}",
            f"--cert-dir={work / 'certs'}",
            f"--token-auth-file={work / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={work / 'sa.pub'}",
            f"--service-account-signing-key-file={work / 'sa.key'}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--disable-admission-plugins=ServiceAccount",
            "--enable-priority-and-fairness=false",
            f"--watch-cache={'true' if self._watch_cache else 'false'}",
            f"--etcd-compaction-interval={'0' if interval is None else f'{interval}s'}",
        ]
        return [str(binaries / "kube-apiserver"), *merge_flags(flags, self._extra_args)]

    def _spawn(self, argv: list[str], *, log: str) -> subprocess.Popen[bytes]:
        preexec: Callable[[], None] | None = _die_with_parent if self._die_with_parent else None
        with open(self.work_dir / log, "ab") as out:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.work_dir,
                preexec_fn=preexec,
            )

    def _wait_ready(self, *, deadline: float) -> None:
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            for proc, name in ((self._etcd, "etcd"), (self._apiserver, "kube-apiserver")):
                log = f"{name}.log"
                if proc is not None and proc.poll() is not None:
                    raise _ProcessExited(
                        f"{name} exited with {proc.returncode} while "
                        f"starting; last lines of {self.work_dir / log}:\n{_log_tail(self.work_dir / log)}"
                    )
            if self.ca_file.exists():
                try:
                    if self._get("/readyz") == "ok":
                        self._get("/api/v1/namespaces/default")
                        return
                    last_error = "/readyz not ok"
                except (OSError, ssl.SSLError) as error:
                    last_error = str(error)
            time.sleep(_POLL_INTERVAL_S)
        raise KubeApiServerError(
            f"kube-apiserver at {self.url} not ready after {self._start_timeout_s:.0f} s "
            f"({last_error}); last lines of its log:\n"
            f"{_log_tail(self.work_dir / 'kube-apiserver.log')}"
        )

    def _get(self, path: str) -> str:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            return str(response.read().decode())

    def _write_kubeconfig(self, *, path: Path, user: str) -> None:
        # JSON is YAML, so no YAML writer is needed; kubectl and kubernetes-asyncio both read it.
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "akod-dev",
                    "cluster": {"server": self.url, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": user, "user": {"token": self.tokens[user]}}],
            "contexts": [{"name": f"{user}@akod-dev", "context": {"cluster": "akod-dev", "user": user}}],
            "current-context": f"{user}@akod-dev",
            "preferences": {},
        }
        path.write_text(json.dumps(config, indent=2) + "\n")
        path.chmod(0o600)

    def _terminate(self, proc: subprocess.Popen[bytes] | None) -> None:
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=self._stop_timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _ProcessExited(Exception):
    """etcd or the apiserver died while starting (often a port lost to another process)."""
