"""HTTP load benchmark: wrk (a second process, on loopback) against a real `aimds serve`.

For 1 and 2 workers it measures POST /v1/check with a ~1 kB prompt and, on the same server stack,
POST /v1/noop (same auth, rate limits and body read, no check and no audit), so the cost of AIMDS
itself shows as a ratio: of request rates, and of the server's CPU time per request (wrk runs on the
same cores, so the second is the steadier one on a small machine). /v1/check runs again at low
concurrency for its latency when the server is not saturated. Then the batch endpoint in texts/s,
the streaming output check in milliseconds per chunk (one NDJSON request of many small chunks, end to
end through HTTP), and the resident memory of each worker.

    python bench/bench_http.py [--duration 10] [--connections 32] [--workers 1 2] [--store redis]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PROMPT = ("Please summarise the attached quarterly report for the leadership team. Focus on revenue by region, "
          "the main cost drivers, hiring plans and any risks the finance team flagged for the next quarter. ") * 5
PROMPT = PROMPT[:1024]

# Every request carries a body never sent before (thread id and counter), so the guard's decision
# cache cannot answer: the figures are for real checks.
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
local prefix = "{prefix}"
local batch = {batch}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
request = function()
  n = n + 1
  local tag = tid .. "-" .. n
  if batch == 0 then
    return wrk.format(nil, nil, nil, '{{"text": "' .. prefix .. ' #' .. tag .. '"}}')
  end
  local parts = {{}}
  for j = 1, batch do parts[j] = '"' .. prefix .. ' ' .. j .. ' #' .. tag .. '"' end
  return wrk.format(nil, nil, nil, '{{"texts": [' .. table.concat(parts, ",") .. ']}}')
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", "from aimds.cli import main; main()", *args], env=env,
                         capture_output=True, text=True, check=True)
    return out.stdout


def start_server(env: dict[str, str], workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "from aimds.cli import main; main()", "serve", "--port", str(port),
                             "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit("server did not become ready")


def wrk(url: str, path: str, script: Path, seconds: int, connections: int, threads: int,
        server: subprocess.Popen | None = None) -> dict[str, float]:
    """One wrk run; with ``server``, also the server's CPU time per request (its processes' user +
    system time over the run), which wrk's own share of the cores does not skew."""
    cpu_before = server_cpu_s(server) if server else 0.0
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
                          url + path], capture_output=True, text=True, check=True).stdout
    cpu = server_cpu_s(server) - cpu_before if server else 0.0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {m.group(1): _ms(m.group(2), m.group(3)) for m in re.finditer(r"\s(50|99)%\s+([\d.]+)(us|ms|s)\b", out)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    result = {"rps": rps, "p50_ms": lat.get("50", float("nan")), "p99_ms": lat.get("99", float("nan")),
              "non_2xx": int(non2xx.group(1)) if non2xx else 0}
    if server:
        result["server_cpu_us_per_request"] = round(cpu * 1e6 / max(total, 1), 1)
    return result


def server_cpu_s(proc: subprocess.Popen) -> float:
    """User + system CPU seconds of the server and its worker processes so far."""
    tick = os.sysconf("SC_CLK_TCK")
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    total = 0.0
    for pid in [proc.pid, *map(int, children)]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def stream_ms_per_chunk(url: str, key: str, chunks: int = 2000, size: int = 40) -> dict[str, float]:
    """Send one answer as ``chunks`` NDJSON chunks of ``size`` characters; wall time per chunk,
    including the client, the body parsing, the scan with look-back and the NDJSON reply."""
    words = (PROMPT * (1 + chunks * size // len(PROMPT)))[: chunks * size]
    lines = [json.dumps({"chunk": words[i:i + size]}).encode() + b"\n" for i in range(0, len(words), size)]
    headers = {"authorization": f"Bearer {key}", "content-type": "application/x-ndjson"}
    started = time.perf_counter()
    reply = httpx.post(url + "/v1/check/output/stream", content=iter(lines), headers=headers, timeout=120)
    elapsed = time.perf_counter() - started
    last = json.loads(reply.content.splitlines()[-1])
    if "done" not in last:
        raise SystemExit(f"stream did not finish cleanly: {last}")
    return {"chunks": len(lines), "chunk_chars": size, "ms_per_chunk": round(elapsed * 1000 / len(lines), 4)}


def worker_rss_mb(proc: subprocess.Popen) -> list[float]:
    """RSS of the serving processes: the workers when uvicorn forks them, else the single process."""
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    pids = [int(p) for p in children] or [proc.pid]
    sizes = []
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        if match and "multiprocessing.resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_text():
            sizes.append(int(match.group(1)) / 1024)
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--light-connections", type=int, default=4,
                        help="a second /v1/check run at this concurrency: latency when the server is not saturated")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--store", default="sqlite://",
                        help="store URL, or 'redis' for a throwaway redis-server on a free port (default: SQLite "
                             "in a temp data dir)")
    args = parser.parse_args()
    if args.store.startswith("memory"):
        raise SystemExit("memory:// cannot see keys made by another process; use sqlite:// or redis://")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install -y wrk)")
    redis_proc = None
    if args.store == "redis":
        port = free_port()
        redis_proc = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        args.store = f"redis://127.0.0.1:{port}/0"
        time.sleep(0.5)
    try:
        run(args)
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(10)


def run(args: argparse.Namespace) -> None:
    data = Path(tempfile.mkdtemp(prefix="aimds-bench-"))
    env = os.environ | {"AIMDS_DATA_DIR": str(data), "AIMDS_STORE_URL": args.store, "AIMDS_BENCH_NOOP": "true",
                        "AIMDS_ACCESS_LOG": "false", "AIMDS_LOG_LEVEL": "warning",
                        "AIMDS_RATE_PER_KEY_PER_MIN": "1e9", "AIMDS_BURST_PER_KEY": "1e9",
                        "AIMDS_RATE_PER_CLIENT_PER_MIN": "1e9", "AIMDS_BURST_PER_CLIENT": "1e9",
                        "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    key = cli(env, "keys", "create", "--role", "checker").split()[-1]
    # Distinct prompts (a counter suffix) so the guard's decision cache does not answer them.
    single = data / "single.lua"
    single.write_text(LUA.format(key=key, prefix=PROMPT, batch=0))
    batch = data / "batch.lua"
    batch.write_text(LUA.format(key=key, prefix=PROMPT[:256], batch=args.batch_size))

    results: dict[str, object] = {"prompt_bytes": len(PROMPT), "connections": args.connections,
                                  "duration_s": args.duration, "store": args.store, "cpus": os.cpu_count()}
    for workers in args.workers:
        proc, url = start_server(env, workers)
        try:
            threads = 2
            wrk(url, "/v1/check", single, 2, args.connections, threads)  # warm-up
            noop = wrk(url, "/v1/noop", single, args.duration, args.connections, threads, proc)
            check = wrk(url, "/v1/check", single, args.duration, args.connections, threads, proc)
            light = wrk(url, "/v1/check", single, args.duration, args.light_connections, 1, proc)
            batch_run = wrk(url, "/v1/check/batch", batch, args.duration, max(4, args.connections // 4), threads, proc)
            results[f"workers_{workers}"] = {
                "check": check, "noop": noop, "check_vs_noop": round(check["rps"] / noop["rps"], 3),
                "check_vs_noop_cpu": round(noop["server_cpu_us_per_request"] / check["server_cpu_us_per_request"], 3),
                f"check_at_{args.light_connections}_connections": light,
                "batch_texts_per_s": round(batch_run["rps"] * args.batch_size, 1), "batch": batch_run,
                "stream": stream_ms_per_chunk(url, key),
                "rss_mb_per_worker": [round(x, 1) for x in worker_rss_mb(proc)],
            }
            print(json.dumps({f"workers_{workers}": results[f"workers_{workers}"]}), flush=True)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
    print(json.dumps(results, indent=2))
    shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
