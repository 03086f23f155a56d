"""Load: concurrent simulated users against a running ragbot (streaming chats and retrieval-only searches),
while `/metrics` is scraped and the server's memory sampled once per second."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import numpy as np
import psutil
from prometheus_client.parser import text_string_to_metric_families

from chatbot.settings import Settings, StorageSettings

QUESTIONS = (
    "How do I reset my password?", "How do I cancel my subscription?", "Can I get a refund?",
    "How do I update to the latest version?", "Why does the app keep logging me out?",
    "Which payment methods are accepted?", "How do I export my data?", "How do I contact support?",
    "Is my data encrypted?", "How do I add another user to my account?",
)
BUSY_PAUSE_S = 1.0  # a user told "busy" waits this long before its next request
READY_TIMEOUT_S = 300.0
TOKENS_METRIC = "ragbot_generated_tokens_total"
REPLICA_HEADER = "x-ragbot-replica"


class LoadError(RuntimeError):
    """The benchmark could not run (the server did not start, a question file is unusable)."""


@dataclass(frozen=True)
class LoadConfig:
    users: int = 16
    seconds: float = 120.0
    retrieval_share: float = 0.25
    generator: str = "base"
    collection: str | None = None
    questions: tuple[str, ...] = QUESTIONS


@dataclass
class Samples:
    """What the users and the monitor recorded (latencies in seconds, memory in MB)."""

    ttft: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)
    retrieval: list[float] = field(default_factory=list)
    scrape: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    tokens: list[tuple[float, float]] = field(default_factory=list)  # (time, generated-tokens counter)
    chat_requests: int = 0
    retrieval_requests: int = 0
    not_covered: int = 0
    busy: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    replicas: Counter[str] = field(default_factory=Counter)  # answered requests per X-Ragbot-Replica

    def answered_by(self, response: httpx.Response) -> None:
        self.replicas[response.headers.get(REPLICA_HEADER, "unnamed")] += 1

    def error(self, message: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(message[:300])


# --- pure parts ----------------------------------------------------------------------------------


def load_questions(path: Path) -> tuple[str, ...]:
    """One question per line, or JSONL objects with a "question" field; blank lines are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise LoadError(f"{path}: {exc}") from exc
    questions = []
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line.startswith("{"):
            questions.append(line)
            continue
        try:
            questions.append(str(json.loads(line)["question"]).strip())
        except (ValueError, KeyError, TypeError) as exc:
            raise LoadError(f"{path}:{number}: not a JSON object with a \"question\"") from exc
    questions = [q for q in questions if q]
    if not questions:
        raise LoadError(f"{path}: no questions")
    return tuple(questions)


@dataclass
class StreamState:
    """An OpenAI-style SSE chat stream, fed line by line."""

    chunks: int = 0
    done: bool = False
    not_covered: bool = False
    error: str | None = None

    def feed(self, line: str) -> bool:
        """Consume one line; True when it carried answer text."""
        if not line.startswith("data:"):
            return False
        data = line[5:].strip()
        if data == "[DONE]":
            self.done = True
            return False
        event = json.loads(data)
        if "error" in event:
            error = event["error"]
            self.error = str(error.get("message", error) if isinstance(error, dict) else error)
            return False
        self.not_covered = self.not_covered or bool(event.get("not_covered"))
        text = (event.get("choices") or [{}])[0].get("delta", {}).get("content")
        if text:
            self.chunks += 1
        return bool(text)


def is_busy(status: int, body: str) -> bool:
    """429, or 503 that says busy (a 503 "database unavailable" is an error)."""
    return status == 429 or (status == 503 and "busy" in body)


def metric_sum(text: str, name: str) -> float:
    """The sum over all label sets of one sample name (e.g. a counter's `_total`) in Prometheus' text format."""
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name)


def tokens_per_second(tokens: list[tuple[float, float]]) -> float | None:
    """Generated tokens per second between the first and the last counter reading."""
    if len(tokens) < 2 or tokens[-1][0] <= tokens[0][0]:
        return None
    return (tokens[-1][1] - tokens[0][1]) / (tokens[-1][0] - tokens[0][0])


def _p(values: list[float], q: float, scale: float = 1.0, digits: int = 3) -> float | None:
    return round(float(np.percentile(values, q)) * scale, digits) if values else None


def summarize(samples: Samples, config: LoadConfig, ready_seconds: float | None) -> dict[str, Any]:
    rate = tokens_per_second(samples.tokens)
    return {
        "users": config.users, "seconds": config.seconds,
        "requests": samples.chat_requests + samples.retrieval_requests,
        "chat_requests": samples.chat_requests, "retrieval_requests": samples.retrieval_requests,
        "errors": samples.errors, "busy": samples.busy, "not_covered": samples.not_covered,
        "ttft_p50": _p(samples.ttft, 50), "ttft_p95": _p(samples.ttft, 95),
        "total_p50": _p(samples.total, 50), "total_p95": _p(samples.total, 95),
        "retrieval_p50": _p(samples.retrieval, 50), "retrieval_p95": _p(samples.retrieval, 95),
        "metrics_scrape_p50_ms": _p(samples.scrape, 50, 1000, 2),
        "metrics_scrape_p95_ms": _p(samples.scrape, 95, 1000, 2),
        "server_rss_peak_mb": round(max(samples.rss_mb)) if samples.rss_mb else None,
        "server_rss_median_mb": round(statistics.median(samples.rss_mb)) if samples.rss_mb else None,
        "serve_ready_seconds": None if ready_seconds is None else round(ready_seconds, 2),
        "tokens_per_second_aggregate": None if rate is None else round(rate, 2),
        "error_samples": samples.error_samples,
        "replicas": dict(sorted(samples.replicas.items())),
    }


def report_lines(result: dict[str, Any]) -> list[str]:
    """A compact human table of a `summarize` result."""

    def cell(value: float | None, unit: str) -> str:
        return "—" if value is None else f"{value} {unit}"

    rows = [("time to first token", "ttft_p50", "ttft_p95", "s"), ("chat total", "total_p50", "total_p95", "s"),
            ("retrieval", "retrieval_p50", "retrieval_p95", "s"),
            ("GET /metrics", "metrics_scrape_p50_ms", "metrics_scrape_p95_ms", "ms")]
    lines = [
        f"{result['users']} users, {result['seconds']} s: {result['requests']} requests ({result['chat_requests']}"
        f" chat, {result['retrieval_requests']} retrieval), {result['errors']} errors, {result['busy']} busy,"
        f" {result['not_covered']} not covered",
        f"{'':<20} {'p50':>12} {'p95':>12}",
    ]
    for label, p50, p95, unit in rows:
        lines.append(f"{label:<20} {cell(result[p50], unit):>12} {cell(result[p95], unit):>12}")
    lines.append(f"server RSS: peak {cell(result['server_rss_peak_mb'], 'MB')}, median "
                 f"{cell(result['server_rss_median_mb'], 'MB')}; ready in {cell(result['serve_ready_seconds'], 's')};"
                 f" {cell(result['tokens_per_second_aggregate'], 'tokens/s')} aggregate")
    if result["replicas"]:
        lines.append("requests per replica: " + ", ".join(f"{name} {count}" for name, count
                                                           in result["replicas"].items()))
    lines += [f"error: {message}" for message in result["error_samples"]]
    return lines


# --- the load ------------------------------------------------------------------------------------


def chat_body(config: LoadConfig, question: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": config.generator, "stream": True,
                            "messages": [{"role": "user", "content": question}]}
    if config.collection:
        body["collection"] = config.collection
    return body


def search_params(config: LoadConfig, question: str) -> dict[str, str]:
    return {"q": question, **({"collection": config.collection} if config.collection else {})}


async def chat(client: httpx.AsyncClient, config: LoadConfig, question: str, samples: Samples) -> bool:
    """One streaming chat; False when the server said busy."""
    started = time.perf_counter()
    state, first = StreamState(), None
    async with client.stream("POST", "/v1/chat/completions", json=chat_body(config, question)) as response:
        if response.status_code != 200:
            body = (await response.aread()).decode(errors="replace")
            if is_busy(response.status_code, body):
                samples.busy += 1
                return False
            samples.error(f"chat: HTTP {response.status_code}: {body}")
            return True
        async for line in response.aiter_lines():
            if state.feed(line) and first is None:
                first = time.perf_counter() - started
    if state.error or not state.done:
        samples.error(f"chat: broken stream: {state.error or 'it ended without [DONE]'}")
        return True
    samples.chat_requests += 1
    samples.answered_by(response)
    samples.not_covered += state.not_covered
    samples.total.append(time.perf_counter() - started)
    if first is not None:
        samples.ttft.append(first)
    return True


async def retrieve(client: httpx.AsyncClient, config: LoadConfig, question: str, samples: Samples) -> bool:
    """One retrieval-only search; False when the server said busy."""
    started = time.perf_counter()
    response = await client.get("/api/search", params=search_params(config, question))
    if response.status_code != 200:
        if is_busy(response.status_code, response.text):
            samples.busy += 1
            return False
        samples.error(f"search: HTTP {response.status_code}: {response.text}")
        return True
    response.json()
    samples.retrieval_requests += 1
    samples.answered_by(response)
    samples.retrieval.append(time.perf_counter() - started)
    return True


async def user(client: httpx.AsyncClient, config: LoadConfig, number: int, deadline: float,
               samples: Samples) -> None:
    """Requests back to back until the deadline (the last one is allowed to finish)."""
    rng = random.Random(number)
    while time.perf_counter() < deadline:
        question = rng.choice(config.questions)
        request = retrieve if rng.random() < config.retrieval_share else chat
        try:
            answered = await request(client, config, question, samples)
        except (httpx.HTTPError, ValueError) as exc:
            samples.error(f"{request.__name__}: {type(exc).__name__}: {exc}")
            answered = True
        if not answered:
            await asyncio.sleep(BUSY_PAUSE_S)


def process_rss_mb(pid: int) -> float | None:
    """Resident memory of a process and its children, in MB; None once the process is gone."""
    try:
        process = psutil.Process(pid)
        tree = [process, *process.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0
    for member in tree:
        with contextlib.suppress(psutil.Error):  # a child may exit meanwhile
            total += member.memory_info().rss
    return total / 1048576


async def scrape(client: httpx.AsyncClient, samples: Samples, *, timed: bool = True) -> None:
    started = time.perf_counter()
    try:
        response = await client.get("/metrics")
        response.raise_for_status()
    except httpx.HTTPError as exc:
        samples.error(f"metrics: {type(exc).__name__}: {exc}")
        return
    now = time.perf_counter()
    if timed:
        samples.scrape.append(now - started)
    samples.tokens.append((now, metric_sum(response.text, TOKENS_METRIC)))


async def monitor(client: httpx.AsyncClient, samples: Samples, server_pid: int | None, stop: asyncio.Event) -> None:
    """Once per second: scrape `/metrics` (timed) and sample the server's RSS."""
    while not stop.is_set():
        await scrape(client, samples)
        rss = process_rss_mb(server_pid) if server_pid is not None else None
        if rss is not None:
            samples.rss_mb.append(rss)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


async def warm_up(client: httpx.AsyncClient, config: LoadConfig) -> None:
    """One search and one chat before measuring, so model loading is not counted; fails loudly."""
    samples = Samples()
    try:
        await retrieve(client, config, config.questions[0], samples)
        await chat(client, config, config.questions[0], samples)
    except httpx.HTTPError as exc:
        raise LoadError(f"warm-up failed: {type(exc).__name__}: {exc}") from exc
    if samples.errors:
        raise LoadError(f"warm-up failed: {samples.error_samples[0]}")


async def run_load(url: str, config: LoadConfig, server_pid: int | None = None) -> Samples:
    """Warm up, then `config.users` users for `config.seconds` with the monitor alongside."""
    samples, stop = Samples(), asyncio.Event()
    timeout = httpx.Timeout(300.0, connect=10.0)
    limits = httpx.Limits(max_connections=config.users + 4)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as client:
        await warm_up(client, config)
        watcher = asyncio.create_task(monitor(client, samples, server_pid, stop))
        deadline = time.perf_counter() + config.seconds
        await asyncio.gather(*(user(client, config, n, deadline, samples) for n in range(config.users)))
        stop.set()
        await watcher
        await scrape(client, samples, timed=False)  # the last answers' tokens
    return samples


def measure(url: str, config: LoadConfig, server_pid: int | None = None,
            ready_seconds: float | None = None) -> dict[str, Any]:
    """Run the load against a server at `url` and summarize it. The event loop gets its own thread, so this
    works where one is already running (a notebook, Playwright's sync API)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragbot-load") as pool:
        samples = pool.submit(asyncio.run, run_load(url, config, server_pid)).result()
    return summarize(samples, config, ready_seconds)


# --- the server ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, log: IO[bytes]) -> float:
    """Seconds until GET /healthz answers 200; LoadError with the server's output if it exits or times out."""
    started = time.perf_counter()
    while time.perf_counter() - started < READY_TIMEOUT_S:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    log.seek(0)
    tail = log.read().decode(errors="replace")[-2000:]
    raise LoadError(f"`ragbot serve` was not ready (exit status {process.poll()}):\n{tail}")


@contextlib.contextmanager
def served(settings: StorageSettings) -> Iterator[tuple[str, int, float]]:
    """A `ragbot serve` subprocess on a free local port with these settings' home: (url, pid, ready seconds)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # every simulated user is 127.0.0.1: the per-client rate limit and cap on answers in flight are off unless the
    # caller's environment sets them
    env = {"RAGBOT_RATE_LIMIT_PER_MINUTE": "0", "RAGBOT_MAX_ANSWERS_PER_CLIENT": "0", **os.environ,
           "RAGBOT_HOME": str(settings.home)}
    command = [sys.executable, "-m", "chatbot", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield url, process.pid, wait_ready(url, process, log)
        finally:
            stop_process(process)


def stop_process(process: subprocess.Popen) -> None:
    """Terminate, and kill after 30 s."""
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_load_benchmark(settings: Settings, config: LoadConfig, url: str | None = None) -> dict[str, Any]:
    """Against `url`, or against a `ragbot serve` started (and stopped) for the run."""
    if url:
        return measure(url.rstrip("/"), config)
    with served(settings) as (local_url, pid, ready):
        return measure(local_url, config, pid, ready)
