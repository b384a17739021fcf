"""Start the whole app on one machine: Redis (embedded unless REDIS_URL is set),
a Celery worker (with the watchdog's beat) and the ASGI server.

Stops every child on Ctrl-C / SIGTERM, and stops all of them if one dies, so a
half-running app never hides behind a working login page.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from cldweb.embedded_redis import EmbeddedRedis, redis_is_reachable


class Command(BaseCommand):
    help = "Start Redis (embedded unless REDIS_URL is set), a Celery worker and the ASGI server."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("CLD_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("CLD_PORT", "8000")))
        parser.add_argument("--workers", type=int, default=1, help="Celery worker processes (one training job each).")

    def handle(self, *args, host: str, port: int, workers: int, **options):
        stop_requested = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop_requested.set())

        env = os.environ.copy()
        embedded: EmbeddedRedis | None = None
        if "REDIS_URL" not in os.environ:
            embedded = EmbeddedRedis(data_dir=Path(settings.CLD_DATA_DIR) / "redis").start()
            env["REDIS_URL"] = embedded.url
            self.stdout.write(f"Embedded Redis started at {embedded.url}")
        elif not redis_is_reachable(os.environ["REDIS_URL"]):
            self.stderr.write(f"REDIS_URL={os.environ['REDIS_URL']} does not answer; start Redis or unset REDIS_URL.")
            sys.exit(1)

        bin_dir = Path(sys.executable).parent
        logs = Path(settings.CLD_DATA_DIR) / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        children: dict[str, subprocess.Popen] = {}
        try:
            children["worker"] = subprocess.Popen(
                [
                    str(bin_dir / "celery"), "-A", "cldweb", "worker", "--beat",
                    "--loglevel", "INFO", "--concurrency", str(workers),
                    "--schedule", str(Path(settings.CLD_DATA_DIR) / "celerybeat-schedule"),
                ],
                env=env, stdout=open(logs / "worker.log", "ab"), stderr=subprocess.STDOUT,
            )
            children["web"] = subprocess.Popen(
                [str(bin_dir / "daphne"), "-b", host, "-p", str(port), "cldweb.asgi:application"],
                env=env, stdout=open(logs / "web.log", "ab"), stderr=subprocess.STDOUT,
            )
            self.stdout.write(self.style.SUCCESS(f"cld is running at http://{host}:{port}/"))
            self.stdout.write(
                f"Demo login: {getattr(settings, 'CLD_DEMO_USERNAME', 'demo')} / {getattr(settings, 'CLD_DEMO_PASSWORD', 'demo-pass-123')}   "
                f"(logs in {logs}; Ctrl-C stops everything)"
            )
            self.stdout.flush()
            while not stop_requested.wait(0.5):
                dead = [name for name, child in children.items() if child.poll() is not None]
                if dead:
                    self.stderr.write(f"{', '.join(dead)} stopped unexpectedly; see {logs}. Stopping cld.")
                    sys.exit(1)
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            for child in children.values():
                try:
                    child.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()
            if embedded is not None:
                embedded.stop()
            self.stdout.write("cld stopped.")
