"""Webhook throughput and latency over TLS, against a no-op FastAPI endpoint on the same server.

The server (uvicorn, TLS, the bundled policy, JSON logs written to /dev/null) runs in this
process; the load comes from a separate process: 16 keep-alive TLS connections, each
sending the next AdmissionReview as soon as the previous answer is in (closed loop), for a
bounded time per target. The bodies are the Pods of /work/shared/corpus/pods, labelled as
backtests (so the policy governs them and `mutate` does its full work) and wrapped in
AdmissionReviews for a tenant namespace. The no-op endpoint reads the same bodies and
answers a constant AdmissionReview: the difference is what the webhook itself costs.
Then the webhook alone, paced at PACED_RATE admissions/s (open loop), for the latency a
request sees below saturation. Each line also gives the server's CPU time per request,
which, unlike throughput, hardly moves when other processes compete for the cores.

At saturation a closed loop's latency is connections / throughput (Little's law): 16
connections at 1,300/s wait 12 ms on average whatever the server does, so the p99 goal is
read against the paced line.

Goals on the 2-core development machine: webhook/no-op throughput ratio >= 0.6, p99 <= 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI, Request, Response

import certs
from webhook import logs
from webhook.policy import PolicySource
from webhook.server import BackgroundServer, ServeOptions, prepare, settle_heap

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "pods"
NAMESPACE = "alpha-research"
GOVERNS = {"app.kubernetes.io/component": "backtest"}
CONNECTIONS = 16
WARMUP_SECONDS = 0.5
ROUNDS, ROUND_SECONDS = 3, 2.0  # 6 s per target in all
GOAL_RATIO, GOAL_P99_MS = 0.6, 5.0
# Latency below saturation: requests sent on a schedule (open loop) at a rate well above
# what a cluster asks of an admission webhook (pod creations per second), well below what
# the server can do; measured from when each request was due.
PACED_RATE = 200.0
NOOP_ANSWER = json.dumps(
    {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": "x", "allowed": True},
    }
).encode()


# --- the bodies -----------------------------------------------------------------------------


def corpus_pods() -> Iterator[dict[str, Any]]:
    """Every Pod object in the corpus that PyYAML can read."""
    for path in sorted(CORPUS.rglob("*.y*ml")):
        try:
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        for doc in docs:
            if (
                isinstance(doc, dict)
                and doc.get("kind") == "Pod"
                and isinstance(doc.get("spec"), dict)
            ):
                yield doc


def review_bodies() -> list[bytes]:
    """The corpus Pods as AdmissionReview bodies in a tenant namespace, governed."""
    bodies = []
    for n, pod in enumerate(corpus_pods()):
        metadata = pod.setdefault("metadata", {})
        metadata.setdefault("name", f"pod-{n}")
        metadata["labels"] = {**(metadata.get("labels") or {}), **GOVERNS}
        metadata.pop("namespace", None)
        request = {
            "uid": f"00000000-0000-0000-0000-{n:012d}",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": NAMESPACE,
            "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:job-controller"},
            "object": pod,
            "dryRun": False,
        }
        review = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": request,
        }
        bodies.append(json.dumps(review).encode())
    return bodies


# --- the server -------------------------------------------------------------------------------


def add_noop(app: FastAPI) -> None:
    """A no-op FastAPI endpoint: read the body, answer a constant review."""

    @app.post("/noop")
    async def noop(request: Request) -> Response:
        await request.body()
        return Response(NOOP_ANSWER, media_type="application/json")


def quiet_logs() -> logging.Handler:
    """Admission logs formatted as in production, written to /dev/null."""
    return logs.configure(open(os.devnull, "w"))  # closed with the process


# --- the load generator (runs in a subprocess) --------------------------------------------


def _request(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _connection(
    port: int,
    context: ssl.SSLContext,
    requests: list[bytes],
    start: int,
    window: tuple[float, float],
    interval: float,
) -> tuple[list[float], int]:
    """One keep-alive connection: back to back (interval 0), or one request per `interval`
    seconds, its latency counted from when it was due (no coordinated omission)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    measure_from, end = window
    samples: list[float] = []
    errors, i = 0, start
    due = time.perf_counter() + interval * (start % CONNECTIONS) / CONNECTIONS
    while due < end:
        if interval:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        t = due if interval else time.perf_counter()
        writer.write(requests[i % len(requests)])
        status = await _read_response(reader)
        if t >= measure_from:
            samples.append(time.perf_counter() - t)
            errors += status != 200
        i += 1
        due = due + interval if interval else time.perf_counter()
    writer.close()
    return samples, errors


async def _load(
    port: int, ca: str, path: str, bodies: list[bytes], duration: float, rate: float
) -> dict[str, Any]:
    context = ssl.create_default_context(cafile=ca)
    requests = [_request(path, b) for b in bodies]
    now = time.perf_counter()
    window = (now + WARMUP_SECONDS, now + WARMUP_SECONDS + duration)
    interval = CONNECTIONS / rate if rate else 0.0
    results = await asyncio.gather(
        *(_connection(port, context, requests, k, window, interval) for k in range(CONNECTIONS))
    )
    return {
        "samples": [round(s * 1000, 4) for r, _ in results for s in r],  # ms
        "errors": sum(e for _, e in results),
        "seconds": duration,
    }


def loadgen_main(argv: list[str]) -> int:
    """`python -m bench.webhook_bench --port P --ca CA --path /mutate --bodies FILE`."""
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--bodies", required=True)
    p.add_argument("--duration", type=float, default=ROUND_SECONDS)
    p.add_argument("--rate", type=float, default=0.0, help="requests/s in all; 0: closed loop")
    args = p.parse_args(argv)
    bodies = [line.encode() for line in Path(args.bodies).read_text().splitlines()]
    result = asyncio.run(_load(args.port, args.ca, args.path, bodies, args.duration, args.rate))
    print(json.dumps(result))
    return 0


def measure(
    port: int, ca: Path, path: str, bodies_file: Path, duration: float, rate: float = 0.0
) -> dict[str, Any]:
    """Run the load generator against `path` in a separate process: its latency samples,
    errors and seconds, plus this process's CPU time meanwhile (it serves, nothing else)."""
    cpu = time.process_time()
    out = subprocess.run(
        [sys.executable, "-m", "bench.webhook_bench", "--port", str(port), "--ca", str(ca),
         "--path", path, "--bodies", str(bodies_file), "--rate", str(rate),
         "--duration", str(duration)],
        cwd=ROOT, capture_output=True, text=True, check=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    result: dict[str, Any] = json.loads(out.stdout)
    served = len(result["samples"]) * (1 + WARMUP_SECONDS / duration)  # warm-up served too
    result["cpu"] = (time.process_time() - cpu) / max(served, 1)
    return result


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Throughput, percentiles and CPU per request over several runs of one target."""
    samples = sorted(s for r in runs for s in r["samples"])
    seconds = sum(r["seconds"] for r in runs)
    return {
        "count": len(samples),
        "errors": sum(r["errors"] for r in runs),
        "rps": len(samples) / seconds,
        "p50": samples[len(samples) // 2],
        "p99": samples[int(len(samples) * 0.99)],
        "mean": statistics.fmean(samples),
        "cpu_us": statistics.median(r["cpu"] for r in runs) * 1e6,
    }


# --- the benchmark ----------------------------------------------------------------------------


def run() -> list[str]:
    """Serve, load both endpoints in turn, and report throughput, latency and the ratio."""
    bodies = review_bodies()
    handler = quiet_logs()
    with tempfile.TemporaryDirectory(prefix="hermetic-bench-") as tmp:
        directory = Path(tmp)
        certs.issue(directory, "hermetic", "hermetic-system", dns=["localhost"], ips=[_LOCALHOST])
        bodies_file = directory / "bodies.jsonl"
        bodies_file.write_text("\n".join(b.decode() for b in bodies) + "\n")
        options = ServeOptions(
            source=PolicySource(paths=(str(ROOT / "policies"),)),
            cert=directory / "tls.crt",
            key=directory / "tls.key",
        )
        webhook = prepare(options)
        add_noop(webhook.app)
        settle_heap()  # as `hermetic serve` does
        with BackgroundServer(webhook) as srv:
            ca = directory / "ca.crt"
            runs: dict[str, list[dict[str, Any]]] = {"/noop": [], "/mutate": []}
            for _ in range(ROUNDS):  # interleaved: a change in the machine's load hits both
                for path, done in runs.items():
                    done.append(measure(srv.port, ca, path, bodies_file, ROUND_SECONDS))
            noop, hook = summary(runs["/noop"]), summary(runs["/mutate"])
            paced = summary([measure(srv.port, ca, "/mutate", bodies_file, 4.0, PACED_RATE)])
            del paced["cpu_us"]  # mostly the idle loop's wake-ups at this rate: not comparable
    logging.getLogger("hermetic").removeHandler(handler)
    return report(len(bodies), noop, hook, paced, PACED_RATE)


def report(
    n: int, noop: dict[str, Any], hook: dict[str, Any], paced: dict[str, Any], rate: float
) -> list[str]:
    """The benchmark's printed lines."""
    ratio = hook["rps"] / noop["rps"]

    def line(name: str, r: dict[str, Any]) -> str:
        return (
            f"  {name:<8} {r['rps']:7.0f} admissions/s   p50 {r['p50']:.2f} ms   "
            f"p99 {r['p99']:.2f} ms   "
            + (f"server CPU {r['cpu_us']:.0f} µs/request   " if "cpu_us" in r else "")
            + f"({r['count']} requests, {r['errors']} errors)"
        )

    return [
        f"webhook over TLS: {n} corpus pods as AdmissionReviews in {NAMESPACE}, "
        f"{CONNECTIONS} keep-alive connections from another process, "
        f"{ROUNDS} interleaved rounds of {ROUND_SECONDS:.0f} s per target",
        line("no-op", noop),
        line("webhook", hook),
        f"  ratio webhook/no-op: {ratio:.2f} (goal >= {GOAL_RATIO}: {'met' if ratio >= GOAL_RATIO else 'NOT met'});"
        f" by server CPU per request: {noop['cpu_us'] / hook['cpu_us']:.2f}",
        f"  machine load average while measuring: {os.getloadavg()[0]:.2f} (2 cores)",
        f"  webhook p99 {hook['p99']:.2f} ms (goal <= {GOAL_P99_MS:.0f} ms: "
        f"{'met' if hook['p99'] <= GOAL_P99_MS else 'NOT met'}) at saturation: "
        f"{CONNECTIONS} connections always waiting make latency {CONNECTIONS}/throughput",
        line("paced", paced) + f"  open loop at {rate:.0f}/s",
    ]


_LOCALHOST = __import__("ipaddress").ip_address("127.0.0.1")


if __name__ == "__main__":
    sys.exit(loadgen_main(sys.argv[1:]))
