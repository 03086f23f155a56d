"""A ragbot cluster on one machine for tests and benchmarks: `ragbot serve` replicas (and, when asked, `ragbot worker`s)
as real subprocesses, each with its own RAGBOT_HOME, all on one Postgres reached by DATABASE_URL, and Debian's nginx
in front running deploy/nginx.conf (its replicas and port filled in) with its own prefix, pid and log files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.load import stop_process
from benchmarks.load import wait_ready as benchmark_wait_ready
from tests.conftest import REPO, SHARED_MODELS
from tests.integration.private_db import free_port

NGINX_CONF = REPO / "deploy" / "nginx.conf"
# COORDINATOR: becomes ["--no-worker"] once the jobs branch (`ragbot serve --no-worker`) is merged: the replicas
# must not run the in-process worker.
SERVE_EXTRA_ARGS: list[str] = ["--no-worker"]


@dataclass
class Replica:
    name: str
    url: str
    process: subprocess.Popen
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def replica_env(database_url: str, home: Path, name: str, extra: dict[str, str]) -> dict[str, str]:
    """Only what the replica needs: its home, the shared database, trusting the local proxy, offline models."""
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "models").exists():
        (home / "models").symlink_to(SHARED_MODELS, target_is_directory=True)
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO)),
            "HOME": str(home), "RAGBOT_HOME": str(home), "DATABASE_URL": database_url, "RAGBOT_REPLICA_NAME": name,
            "RAGBOT_TRUSTED_PROXIES": "127.0.0.1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "GRADIO_ANALYTICS_ENABLED": "False", **extra}


def start_replica(database_url: str, root: Path, name: str, env: dict[str, str]) -> Replica:
    port = free_port()
    log = root / f"{name}.log"
    command = [sys.executable, "-m", "chatbot", "serve", "--host", "127.0.0.1", "--port", str(port),
               *SERVE_EXTRA_ARGS]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=replica_env(database_url, root / name, name, env), cwd=root,
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    return Replica(name, f"http://127.0.0.1:{port}", process, log)


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def start_worker(database_url: str, root: Path, name: str, env: dict[str, str]) -> Worker:
    """A `ragbot worker` (every queue, one job at a time) with its own home on `database_url`."""
    log = root / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "chatbot", "worker"],
                                   env=replica_env(database_url, root / name, name, env), cwd=root,
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    return Worker(name, process, log)


def wait_ready(replicas: Sequence[Replica]) -> None:
    """Until every replica answers /healthz 200 (the load benchmark's wait: LoadError with its output if not)."""
    for replica in replicas:
        with replica.log.open("rb") as log:
            benchmark_wait_ready(replica.url, replica.process, log)


def nginx_config(template: str, upstreams: Sequence[str], port: int, prefix: Path) -> str:
    """deploy/nginx.conf for this machine: the replicas on every `# ragbot-replicas` line, the port, and temp
    files under `prefix` (and workers as this user when run as root)."""
    lines = []
    for line in template.splitlines():
        if line.rstrip().endswith("# ragbot-replicas"):
            indent = line[: len(line) - len(line.lstrip())]
            lines += [f"{indent}server {address} max_fails=3 fail_timeout=10s;" for address in upstreams]
        elif line.strip() == "listen 80;":
            lines.append(line.replace("listen 80;", f"listen 127.0.0.1:{port};"))
        elif line.strip() == "http {":
            lines.append(line)
            lines += [f"    {kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                              "uwsgi", "scgi")]
        else:
            lines.append(line)
    user = "user root;\n" if os.geteuid() == 0 else ""
    return user + "\n".join(lines) + "\n"


@contextmanager
def nginx(upstreams: Sequence[str], root: Path) -> Iterator[str]:
    """Debian's nginx (`make nginx-deps`) on a free port in front of `upstreams` (host:port); yields its URL."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    prefix = Path(tempfile.mkdtemp(prefix="nginx-", dir=root))
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_config(NGINX_CONF.read_text(), upstreams, port, prefix))
    globals_ = f"daemon off; pid {prefix / 'nginx.pid'}; error_log {prefix / 'error.log'} warn;"
    check = subprocess.run([binary, "-t", "-p", str(prefix), "-c", str(conf), "-g", globals_],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen([binary, "-p", str(prefix), "-c", str(conf), "-g", globals_],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (prefix / "error.log").read_text()
            try:
                httpx.get(f"{url}/healthz", timeout=5)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "nginx did not answer"
                time.sleep(0.1)
        yield url
    finally:
        stop_process(process)


@dataclass
class Cluster:
    url: str  # nginx
    replicas: list[Replica]
    database_url: str
    root: Path
    workers: list[Worker] = field(default_factory=list)


@contextmanager
def cluster(database_url: str, root: Path, names: Sequence[str], env: dict[str, str],
            workers: Sequence[str] = ()) -> Iterator[Cluster]:
    """`len(names)` replicas on `database_url` behind nginx, and a `ragbot worker` for each of `workers`, stopped
    afterwards."""
    with ExitStack() as stack:
        replicas = [start_replica(database_url, root, name, env) for name in names]
        started = [start_worker(database_url, root, name, env) for name in workers]
        for process in [r.process for r in replicas] + [w.process for w in started]:
            stack.callback(stop_process, process)
        wait_ready(replicas)
        url = stack.enter_context(nginx([r.url.removeprefix("http://") for r in replicas], root))
        yield Cluster(url, replicas, database_url, root, started)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m tests.integration.cluster [--replicas N] -- COMMAND …`: N replicas behind nginx on `DATABASE_URL`
    (or RAGBOT_HOME's embedded server), the environment's RAGBOT_* settings passed on; COMMAND runs with `{url}`
    replaced by nginx's URL (e.g. `ragbot bench load --url {url}`), then everything stops."""
    import argparse

    from chatbot.settings import Settings
    from chatbot.storage import db

    parser = argparse.ArgumentParser(prog="python -m tests.integration.cluster")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = [part for part in args.command if part != "--"]
    env = {key: value for key, value in os.environ.items() if key.startswith("RAGBOT_") and key != "RAGBOT_HOME"}
    with tempfile.TemporaryDirectory(prefix="ragbot-cluster-") as root, \
            cluster(db.database_url(Settings()), Path(root), [f"replica-{n}" for n in range(args.replicas)],
                    env) as running:
        print(f"nginx on {running.url} in front of {', '.join(r.url for r in running.replicas)}", flush=True)
        return subprocess.run([part.replace("{url}", running.url) for part in command]).returncode


if __name__ == "__main__":
    raise SystemExit(main())
