"""Benchmark browser terminals: keystroke echo and output throughput through our session WebSocket, against a
raw `docker exec -it` on the same instance and against terminado running `docker exec -it`; the same echo with
a bare asyncio server in Daphne's place (bench/terminal_floor.py), to tell Daphne's share; then the web server's
memory while a slow viewer is flooded.

Run from the repository root: .venv/bin/python bench/terminal_io.py   (needs bin/setup --dev and terminado)
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import contextlib
import fcntl
import json
import os
import pty
import statistics
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as bench/terminal_io.py
from bench.measure import SANDBOX_ENGINE, docker_argv  # noqa: E402
from bench.start import CHROMIUM, CHROMIUM_ARGS, ROOT, one_instance, serve_on_free_port, start_daphne, start_django  # noqa: E402

start_django(
    env={
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3"),
        "DATABASE_URL": f"sqlite:///{ROOT / 'var' / 'bench.sqlite3'}",
    }
)

from django.core.management import call_command  # noqa: E402

from bench.terminal_client import (  # noqa: E402
    COLS,
    ROWS,
    LeanWebSocket,
    PageTerminal,
    Terminal,
    WebSocket,
    drain,
    echo_times,
    read_until,
)
from engine import execs  # noqa: E402
from engine.daemon import default  # noqa: E402

ECHO_SAMPLES = 300
ECHO_ROUNDS = 5
FLOOD_BYTES = 100_000_000
FLOOD = f"yes 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXY | head -c {FLOOD_BYTES}; echo EN''D\r"


class RawPty:
    """A command (`docker exec -it …`) on a local pty, as a learner's own terminal would run it."""

    def __init__(self, argv: list[str]) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        asyncio.get_running_loop().add_reader(self.master, self._readable)

    def _readable(self) -> None:
        try:
            self.queue.put_nowait(self.decoder.decode(os.read(self.master, 65536)))
        except OSError:
            asyncio.get_running_loop().remove_reader(self.master)

    async def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    async def read(self) -> str:
        return await self.queue.get()

    async def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.master)
        self.process.kill()
        self.process.wait()
        os.close(self.master)


class Terminado:
    """terminado's WebSocket protocol: ["stdin", text] in, ["stdout", text] out."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, port: int) -> Terminado:
        ws = await LeanWebSocket.open(f"ws://127.0.0.1:{port}/websocket")
        await ws.send(json.dumps(["set_size", ROWS, COLS]))
        return cls(ws)

    async def send(self, keys: str) -> None:
        await self.ws.send(json.dumps(["stdin", keys]))

    async def read(self) -> str:
        while True:
            message = json.loads(await self.ws.recv())
            if message[0] == "stdout":
                return str(message[1])

    async def close(self) -> None:
        await self.ws.close()


async def throughput(term: Terminal) -> tuple[float, int]:
    """Run the flood; return MB/s of the command's output and the characters that reached us."""
    await drain(term.read)
    started = time.perf_counter()
    await term.send(FLOOD)
    received = await read_until(term, "END")
    return FLOOD_BYTES / 1e6 / (time.perf_counter() - started), received


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def slow_viewer_peak(base: str, session_id: str, instance: str, server_pid: int, acknowledge: bool) -> float:
    """Have a viewer take one frame per 20 ms while `cat` prints 100 MB; return the server's peak RSS in MiB."""
    term = await PageTerminal.open(base, session_id, instance, acknowledge, lean=False)  # it reads slowly
    await term.send("echo warm-$((1+1))\r")
    await read_until(term, "warm-2")
    await drain(term.read)
    peak = rss_mib(server_pid)
    await term.send("cat /tmp/big; echo EN''D\r")
    deadline = time.monotonic() + 15
    received = 0
    while time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            received += len(await asyncio.wait_for(term.read(), 1))
        peak = max(peak, rss_mib(server_pid))
        await asyncio.sleep(0.02)
    await term.send("\x03")
    await term.close()
    print(f"    (acknowledging={acknowledge}: the viewer took {received / 1e6:.1f} MB in 15 s)", flush=True)
    return peak


# Run in the page: how late a 50 ms timer fires tells how long the main thread was busy.
LAG_PROBE = """() => { window.lags = []; let last = performance.now();
  setInterval(() => { const now = performance.now(); window.lags.push(now - last - 50); last = now; }, 50); }"""


async def page_under_flood(base: str, session_id: str, server_pid: int) -> None:
    """Flood the terminal of a real page with `cat` of 100 MB; report main-thread lag, ^C delay, server RSS."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        await page.goto(f"{base}/p/{session_id}")
        rows = page.locator(".pane.active .xterm-rows")
        await rows.get_by_text("(local) root@").last.wait_for()
        await page.locator(".pane.active .xterm").click()
        await page.evaluate(LAG_PROBE)
        await page.keyboard.type("clear; cat /tmp/big; echo EN''D\n")
        peak = rss_mib(server_pid)
        for _ in range(60):
            await asyncio.sleep(0.25)
            peak = max(peak, rss_mib(server_pid))
        lags = await page.evaluate("window.lags")
        started = time.perf_counter()
        await page.keyboard.press("Control+C")
        await page.keyboard.type("clear; echo back-$((1+1))\n")
        await rows.get_by_text("back-2").wait_for(timeout=120_000)
        back = time.perf_counter() - started
        await browser.close()
    p50, p99 = summary(lags)
    print("chromium page while `cat` prints 100 MB into its terminal for 15 s:")
    print(
        f"  main-thread lag p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {max(lags):.0f} ms; "
        f"^C then a command answered after {back:.2f} s; server peak RSS {peak:.0f} MiB",
        flush=True,
    )


def start_terminado(instance: str) -> tuple[subprocess.Popen[bytes], int]:
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "terminado_server.py"), instance],
        env={**os.environ, "DOCKER_HOST": SANDBOX_ENGINE},  # for the `docker exec` it runs
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None
    return server, int(server.stdout.readline())


def summary(times: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(times, n=100)
    return statistics.median(times), cuts[98]


async def measure(name: str, opener: Callable[[], object]) -> tuple[str, float, float, float, int]:
    term: Terminal = await opener()  # type: ignore[misc]
    try:
        p50, p99 = summary(await echo_times(term, ECHO_SAMPLES))
        rate, received = await throughput(term)
        await drain(term.read)
    finally:
        await term.close()
    print(f"  {name:<34} echo p50 {p50:6.2f} ms  p99 {p99:6.2f} ms   throughput {rate:6.1f} MB/s", flush=True)
    return name, p50, p99, rate, received


async def echo_rounds(label: str, ours: Callable[[], Awaitable[Terminal]], instance: str) -> list[float]:
    """Time echoes raw and through `ours` alternately, so a busy moment slows both alike; return ours/raw per round."""
    ratios = []
    for _ in range(ECHO_ROUNDS):
        p50s = []
        for opener in (lambda: _raw(["bash", "--login"], instance), ours):
            term = await opener()
            try:
                p50s.append(summary(await echo_times(term, ECHO_SAMPLES))[0])
            finally:
                await term.close()
        ratios.append(p50s[1] / p50s[0])
        print(f"  raw {p50s[0]:.3f} ms, {label} {p50s[1]:.3f} ms: {ratios[-1]:.2f}x", flush=True)
    return ratios


async def answer_times(base: str) -> list[float]:
    """Time keystrokes that the server answers itself (no tty): the WebSocket hop alone; return milliseconds."""
    term = await PageTerminal.open(base, "bench", "node1", acknowledge=False)
    times = []
    try:
        async with asyncio.timeout(60):
            for n in range(ECHO_SAMPLES + 20):
                started = time.perf_counter()
                await term.send("z")
                await term.read()
                if n >= 20:
                    times.append((time.perf_counter() - started) * 1000)
    finally:
        await term.close()
    return times


async def floor_rounds(session_id: str, instance: str) -> None:
    """Measure what Daphne costs: a bare asyncio WebSocket server in its place, and both servers answering alone."""
    floor = [sys.executable, str(ROOT / "bench" / "terminal_floor.py")]
    servers = {
        "bridge": serve_on_free_port([*floor, "bridge", "{fd}", instance], "ws"),
        "bare echo": serve_on_free_port([*floor, "echo", "{fd}"], "ws"),
        "daphne echo": start_daphne("bench.terminal_floor:echo_app", "ws"),
    }
    await asyncio.sleep(2)  # all up
    try:
        print(f"reference: a bare asyncio WebSocket server instead of Daphne, {ECHO_ROUNDS} alternating rounds:")
        bridge = partial(PageTerminal.open, servers["bridge"][1], session_id, instance)
        ratios = await echo_rounds("bare server -> the tty", bridge, instance)
        print(f"  median {statistics.median(ratios):.2f}x", flush=True)
        daphne, bare = [], []
        for _ in range(ECHO_ROUNDS):
            daphne.append(summary(await answer_times(servers["daphne echo"][1]))[0])
            bare.append(summary(await answer_times(servers["bare echo"][1]))[0])
        print(
            f"the WebSocket hop alone (the server answers each keystroke itself), median p50 of {ECHO_ROUNDS} rounds: "
            f"Daphne + a trivial ASGI app {statistics.median(daphne):.3f} ms, bare server "
            f"{statistics.median(bare):.3f} ms",
            flush=True,
        )
    finally:
        for server, _ in servers.values():
            server.terminate()
            server.wait(10)


async def run(session_id: str, instance: str) -> None:
    daphne, base = start_daphne(scheme="ws")
    open_ours = partial(PageTerminal.open, base, session_id, instance)
    terminado, terminado_port = start_terminado(instance)
    await asyncio.sleep(2)  # both servers up
    try:
        load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
        print(f"{os.cpu_count()} CPUs, load average {load}", flush=True)
        print("echo round trip and throughput (same instance, 120x40):", flush=True)
        rows = [
            await measure("raw docker exec -it bash", lambda: _raw(["bash", "--login"], instance)),
            await measure("raw docker attach (the sandbox's tty)", lambda: _attach(instance)),
            await measure("ours: WebSocket -> the sandbox's tty", open_ours),
            await measure("terminado -> docker exec -it bash", lambda: Terminado.open(terminado_port)),
        ]
        print(f"echo p50, raw docker exec -it vs ours, {ECHO_ROUNDS} alternating rounds:", flush=True)
        ratios = await echo_rounds("ours", open_ours, instance)
        await floor_rounds(session_id, instance)
        execs.exec_run(default(), instance, ["sh", "-c", f"yes {'x' * 63} | head -c {FLOOD_BYTES} > /tmp/big"])
        print("web server peak RSS while a slow viewer (1 frame / 20 ms) is sent `cat` of 100 MB for 15 s:")
        idle = rss_mib(daphne.pid)
        acked = await slow_viewer_peak(base, session_id, instance, daphne.pid, acknowledge=True)
        legacy = await slow_viewer_peak(base, session_id, instance, daphne.pid, acknowledge=False)
        print(f"  idle {idle:.0f} MiB; acknowledging viewer {acked:.0f} MiB; PWD-style viewer {legacy:.0f} MiB")
        await page_under_flood(base.replace("ws://", "http://"), session_id, daphne.pid)
        raw, ours = rows[0], rows[2]
        print(
            f"ratios: echo p50 ours/raw {statistics.median(ratios):.2f} (median of {ECHO_ROUNDS} rounds; a regression "
            "guard, see BENCHMARKS.md); "
            f"throughput ours/raw {ours[3] / raw[3]:.2f} (goal >= 0.7); ours/terminado {ours[3] / rows[3][3]:.2f}"
        )
    finally:
        for process in (daphne, terminado):
            process.terminate()
            process.wait(10)


async def _attach(instance: str) -> RawPty:
    return RawPty(docker_argv("attach", instance))


async def _raw(argv: list[str], instance: str) -> RawPty:
    return RawPty(docker_argv("exec", "-it", "-e", "TERM=xterm-256color", "-e", "LANG=C.UTF-8", instance, *argv))


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    call_command("migrate", verbosity=0)
    with one_instance() as instance:
        asyncio.run(run(instance.session_id, instance.name))


if __name__ == "__main__":
    main()
