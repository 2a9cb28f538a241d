"""Benchmark of the partner earn endpoint: gunicorn on 127.0.0.1, wrk with a Lua script, in one run against
a naive DRF earn view (select_for_update + save + insert) and a bare one-statement Django view.

Every earn request names another member and another API key, and carries a fresh order id and Idempotency-Key,
so the numbers are for distinct writes, not for replays or one hot row. The server runs the production
settings (DEBUG off) with bench/api_settings.py adding the two comparison views.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench_api python bench/api_earn.py

Without DATABASE_URL the embedded PostgreSQL is used (database loyalty_bench_api).
"""

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchenv

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE = "loyalty_bench_api"
PROGRAM_CODE = "bench-api"

LUA = r"""
-- Each request: the next member and the next key, a fresh order id doubling as the Idempotency-Key.
local members = {%(members)s}
local keys = {%(keys)s}
local run = "%(run)s"
local threads = 0
local counter = 0
local stride = 64  -- more than any wrk thread count, so threads never pick the same member at once

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function request()
  counter = counter + 1
  local n = counter * stride + tid
  local member = members[(n %% #members) + 1]
  local key = keys[(n %% #keys) + 1]
  local reference = run .. "-" .. tid .. "-" .. counter
  local body = string.format(
    '{"member_id":%%d,"order_id":"%%s","amount":"125.50","currency":"AED"}', member, reference)
  return wrk.format("POST", "%(path)s", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key,
    ["Idempotency-Key"] = reference,
  }, body)
end
"""


def seed(*, members: int, keys: int) -> tuple[list[int], list[str], int]:
    """The benchmark program with ``members`` enrolled members, and a fresh partner with ``keys`` keys."""
    from loyalty.models import PointAccount, Program, Scope, Tier
    from loyalty.partners import api_key_create, partner_create
    from loyalty.services import member_enroll
    from members.models import Member
    from members.services import member_create

    program, _created = Program.objects.get_or_create(
        code=PROGRAM_CODE, defaults={"name": "API benchmark", "currency": "AED", "earn_rate": Decimal("1")}
    )
    for rank, (code, multiplier) in enumerate([("blue", "1"), ("gold", "1.5")]):
        Tier.objects.get_or_create(
            program=program,
            rank=rank,
            defaults={"code": code, "name": code.title(), "earn_multiplier": Decimal(multiplier)},
        )
    existing = PointAccount.objects.filter(program=program).count()
    for index in range(existing, members):
        member = member_create(external_id=f"BENCH-API-{index:07d}", enrollment_channel=Member.Channel.IMPORT)
        member_enroll(member=member, program=program)
    member_ids = list(
        PointAccount.objects.filter(program=program).order_by("id").values_list("member_id", flat=True)[:members]
    )
    partner = partner_create(
        name=f"bench-{uuid.uuid4().hex[:8]}", program=program, scopes=Scope.values, rate_limit=100_000_000
    )
    raw_keys = [api_key_create(partner=partner, name=f"key {index}", scopes=Scope.values)[1] for index in range(keys)]
    return member_ids, raw_keys, partner.pk


def cpu_per_request(*, members: list[int], key: str, requests: int = 100, rounds: int = 6) -> dict[str, float]:
    """CPU per request of each endpoint served in this process (best of ``rounds``): this process's, and the
    PostgreSQL backend's serving it when the server runs on this machine (``None`` otherwise).

    On a machine shared with other work, throughput swings with the neighbours' load; the CPU a request
    costs in Python and in PostgreSQL stays put, and it is what bounds throughput on two cores.
    """
    from django.test import Client
    from django.test.utils import override_settings

    client = Client()
    counter = iter(range(10**9))

    def send(path: str) -> None:
        if path == "/bench/bare":
            response = client.get(path)
        else:
            reference = f"cpu-{uuid.uuid4().hex}"
            member = members[next(counter) % len(members)]
            body = f'{{"member_id":{member},"order_id":"{reference}","amount":"125.50","currency":"AED"}}'
            response = client.post(
                path,
                body,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {key}",
                HTTP_IDEMPOTENCY_KEY=reference,
            )
        assert response.status_code in (200, 201), response.content

    paths = {"bare": "/bench/bare", "naive": "/bench/naive-earn", "earn": "/api/v1/purchases"}
    best = dict.fromkeys(paths, float("inf"))
    best_backend = dict.fromkeys(paths, float("inf"))
    backend_seconds = _backend_cpu_reader() or (lambda: math.nan)
    with override_settings(ROOT_URLCONF="bench.api_urls", ALLOWED_HOSTS=["testserver"]):
        for path in paths.values():
            for _ in range(20):
                send(path)
        for _ in range(rounds):
            for name, path in paths.items():
                started, backend_started = time.process_time(), backend_seconds()
                for _ in range(requests):
                    send(path)
                best[name] = min(best[name], (time.process_time() - started) / requests * 1000)
                best_backend[name] = min(best_backend[name], (backend_seconds() - backend_started) / requests * 1000)
    return {
        name: {"python_ms": best[name], "postgres_ms": None if math.isinf(best_backend[name]) else best_backend[name]}
        for name in paths
    }


def _backend_cpu_reader():
    """A function returning the CPU seconds used so far by this connection's PostgreSQL backend, read from /proc
    when the server runs on this machine; None when it cannot be read (a remote server, or not ours to read)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    stat = Path(f"/proc/{pid}/stat")
    ticks = os.sysconf("SC_CLK_TCK")

    def seconds() -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks  # utime and stime

    try:
        seconds()
    except OSError:
        return None
    return seconds


def start_server(*, port: int, workers: int, threads: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.api_settings",
        "DJANGO_SECRET_KEY": "benchmark-only-secret-key-not-for-any-real-deployment-0123456789",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_LOG_LEVEL": "WARNING",
    }
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread" if threads > 1 else "sync",
        "--threads",
        str(threads),
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, cwd=BASE_DIR, env=env, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/bare", timeout=1) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not start")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _milliseconds(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * _UNITS[unit]


def run_wrk(url: str, *, connections: int, threads: int, seconds: int, script: str | None) -> dict:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script:
        command += ["-s", script]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", output, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)$", output, re.MULTILINE)
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),
        "requests": int(re.search(r"(\d+) requests in", output)[1]),
        "p50_ms": _milliseconds(latency["50"]),
        "p99_ms": _milliseconds(latency["99"]),
        "non_2xx": int(errors[1]) if errors else 0,
        "socket_errors": socket_errors[1] if socket_errors else "",
    }


def _line(result: dict) -> str:
    line = (
        f"{result['requests_per_second']:8.0f} req/s   p50 {result['p50_ms']:6.1f} ms   p99 {result['p99_ms']:6.1f} ms"
        f"   requests {result['requests']}   non-2xx {result['non_2xx']}"
    )
    return line + (f"   socket errors {result['socket_errors']}" if result["socket_errors"] else "")


def _median_run(runs: list[dict]) -> dict:
    """The round with the median throughput (its own latencies with it), and the errors of all rounds."""
    median = sorted(runs, key=lambda run: run["requests_per_second"])[len(runs) // 2]
    return {**median, "non_2xx": sum(run["non_2xx"] for run in runs)}


def write_script(directory: str, name: str, path: str, members: list[int], keys: list[str]) -> str:
    script = Path(directory) / f"{name}.lua"
    script.write_text(
        LUA
        % {
            "members": ",".join(map(str, members)),
            "keys": ",".join(f'"{key}"' for key in keys),
            "run": f"{name}-{uuid.uuid4().hex[:8]}",
            "path": path,
        }
    )
    return str(script)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=20, help="measured seconds per endpoint and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over all endpoints; the median is reported")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured seconds per endpoint before round 1")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    # Threads let a worker serve requests while others wait on the database, and keep connections alive.
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (gthread when above 1)")
    parser.add_argument("--members", type=int, default=5_000)
    parser.add_argument("--keys", type=int, default=32)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--only", choices=["bare", "naive", "earn"], action="append", help="run only these")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (Debian package wrk)")

    where = benchenv.configure(database=DATABASE)
    print(f"database: {where}")
    print(f"machine: {benchenv.machine()}")
    with benchenv.Timer() as setup_time:
        members, keys, _partner_id = seed(members=args.members, keys=args.keys)
    print(f"data: {len(members)} members, {len(keys)} keys (set up in {setup_time.seconds:.1f} s)")
    cpu = cpu_per_request(members=members, key=keys[0])
    print(
        "CPU per request, served in one process (Python + PostgreSQL backend): "
        + "   ".join(
            f"{name} {ms['python_ms']:.2f} + {ms['postgres_ms']:.2f} ms"
            if ms["postgres_ms"] is not None
            else f"{name} {ms['python_ms']:.2f} ms"
            for name, ms in cpu.items()
        )
    )

    targets = {
        "bare": ("/bench/bare", False),
        "naive": ("/bench/naive-earn", True),
        "earn": ("/api/v1/purchases", True),
    }
    chosen = args.only or list(targets)
    base = f"http://127.0.0.1:{args.port}"
    runs: dict[str, list[dict]] = {name: [] for name in chosen}
    server = start_server(port=args.port, workers=args.workers, threads=args.threads)
    try:
        with tempfile.TemporaryDirectory() as directory:
            # Rounds interleave the endpoints, so a neighbour's load on a shared machine falls on all of them.
            for round_number in range(1, args.rounds + 1):
                for name in chosen:
                    path, scripted = targets[name]
                    wrk = {"connections": args.connections, "threads": args.wrk_threads}
                    warmup = args.warmup if round_number == 1 else 0
                    for phase, seconds in (("warmup", warmup), ("measured", args.seconds)):
                        if not seconds:
                            continue
                        # A script per run: its order ids and keys are new, so nothing is ever a replay.
                        label = f"{name}-{round_number}-{phase}"
                        script = write_script(directory, label, path, members, keys) if scripted else None
                        result = run_wrk(base + path, seconds=seconds, script=script, **wrk)
                    runs[name].append(result)
                    print(f"round {round_number} {name:6} " + _line(result))
    finally:
        server.terminate()
        server.wait(timeout=30)
    results = {name: _median_run(name_runs) for name, name_runs in runs.items()}
    print(f"median of {args.rounds} rounds:")
    for name, result in results.items():
        print(f"  {name:6} " + _line(result))
    if "earn" in results and "naive" in results:
        ratio = results["earn"]["requests_per_second"] / results["naive"]["requests_per_second"]
        print(f"earn / naive: {ratio:.2f}x")
    print(json.dumps({"settings": vars(args), "cpu_ms": cpu, "results": results, "rounds": runs}))
    failed = [name for name, result in results.items() if result["non_2xx"]]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
