"""What following a live run costs the training, how fast the Collapse view follows, and whether memory stays flat.

Drives the real server (``streamlit run app/main.py``, its own temporary run store) in headless Chromium:

1. cost: per page (Train, Jobs, Collapse, Compare, Mistakes) and viewer, one training started from the Train
   page with synthetic defaults, in which blocks of ``--block`` epochs with no page open and with the page
   followed alternate (none, page, none, …; ``--repeats`` page blocks), each page block compared with the blocks
   beside it (goal ≤ 1.15×), counted from the first epoch after the page was drawn and its browser settled
   (opening a page, a one-off, is printed apart as the browser's CPU until then). Viewers: "browser", headless
   Chromium on this machine's cores, and "headless", a websocket client that asks for the page and receives
   everything the server sends a browser but renders nothing: the server's own cost, as when the viewer's browser
   runs on the viewer's machine. Prints each block's mean epoch time (from metrics.jsonl's ``seconds``) and
   ratio, each page's mean ratio per viewer, and the CPU each part used meanwhile.
2. latency: a training in a separate process (as the CLI would) whose snapshots hold ``--points`` points
   (5,000 by default) while a browser follows the Collapse page; per epoch, the time from the epoch's
   metrics row appearing on disk to the page's projection showing that epoch (goal ≤ 3 s), for PCA and UMAP.
   Then the same with synthetic defaults' short epochs (600 points) on the Train page (its progress line) and on
   Collapse: there a page is redrawn at most once per ``app.live_follow.GAP_S``, which this measures.
3. memory: ``--memory-epochs`` short epochs (100 by default) trained by the server while a browser follows
   Collapse; the server's RSS (and the UMAP worker's) once the run is set up (after its third evaluation)
   and at its end (goal: within 10 %).

Timings depend on what else the machine runs; the script prints its load average with the results.
``--quick`` runs every part at toy sizes (the test suite runs it so the script cannot rot).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import Column, render_table  # noqa: E402
from core import RunDir  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGES = ("train", "jobs", "collapse", "compare", "mistakes")
VIEWERS = ("browser", "headless")
# The projection's title alone (chart key "scatter"): the class-mean heatmap's title names its epoch too, and counting
# it measured the heatmap (drawn at once) instead of a UMAP projection still waiting for its layout.
TITLE_JS = """() => Array.from(document.querySelectorAll('.st-key-scatter .gtitle'))
                     .map(t => t.textContent).join(' | ')"""
MAIN_TEXT_JS = """() => (document.querySelector('[data-testid="stMain"]') || document.body).innerText"""


# --------------------------------------------------------------------------------------------- server
def _group_nice() -> None:
    """In a process that has just started a session of its own: give the session's scheduling group (Linux
    autogroup, see :func:`_chromium`) this process's nice value, so that ``--nice`` ranks the server among the
    machine's other sessions, not only among its own processes."""
    nice = os.getpriority(os.PRIO_PROCESS, 0)
    if nice:
        with contextlib.suppress(OSError):
            Path("/proc/self/autogroup").write_text(str(nice))


class Server:
    """``streamlit run app/main.py`` on a free port with its own run store; stopped on exit."""

    def __init__(self, runs: Path, env: dict[str, str] | None = None):
        self.runs = runs
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(runs.parent / "streamlit.log", "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.port", str(self.port),
             "--server.headless", "true", "--server.address", "127.0.0.1"], cwd=ROOT,
            env={**os.environ, "HAFRAME_RUNS_DIR": str(runs), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
                 **(env or {})},
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_group_nice)
        deadline = time.monotonic() + 120
        while not self._healthy():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start; see {self.log.name}")
            time.sleep(0.5)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                return response.read().strip() == b"ok"
        except OSError:
            return False

    def rss_mib(self) -> dict[str, float]:
        """Resident memory of the server and of each child (the UMAP worker), in MiB."""
        out = {"server": _rss_mib(self.process.pid)}
        for child in _children(self.process.pid):
            out[f"child {child}"] = _rss_mib(child)
        return out

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)
        self.log.close()


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _task_cpu(stat_path: Path) -> tuple[str, float] | None:
    """(comm, user + system CPU seconds) of one thread or process from its /proc stat file."""
    try:
        text = stat_path.read_text()
    except OSError:
        return None
    comm = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return comm, (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15 of stat)


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for child in _children(parent):
            found.append(child)
            todo.append(child)
    return found


class CpuMeter:
    """CPU seconds used by each part of what a live page costs, between :meth:`start` and :meth:`stop`.

    Server threads by name (app/live_priority.py names them): "train" (the training thread and the threads its
    torch operations started), "page" (Streamlit script threads: page runs; a thread per run, most of which end
    between two samples, so this is the server's CPU that no living thread accounts for), the server's main
    thread (Tornado: websocket traffic) and the rest; the UMAP worker (the server's child processes); the viewer
    (every process under this benchmark other than the server: Chromium and Playwright's driver; and the thread of
    a headless viewer, ``viewer_tid`` — in real use the browser runs on the viewer's machine, not the server's).
    """

    def __init__(self, server_pid: int, viewer_tid: int | None = None):
        self.server_pid = server_pid
        self.viewer_tid = viewer_tid
        self._start: dict[tuple, float] = {}
        self._last: dict[tuple, tuple[str, float]] = {}
        self.seconds: dict[str, float] = {}

    def _tasks(self) -> dict[tuple, tuple[str, float]]:
        """(kind, task id) → CPU seconds so far, for every thread of the server and every process around it."""
        out: dict[tuple, tuple[str, float]] = {}
        for task in Path(f"/proc/{self.server_pid}/task").glob("*"):
            found = _task_cpu(task / "stat")
            if found is not None:
                comm, cpu = found
                kind = "server loop" if task.name == str(self.server_pid) else \
                    "train" if comm.startswith("train") else "page" if comm.startswith("page") else "server other"
                out[("thread", task.name)] = (kind, cpu)
        whole = _task_cpu(Path(f"/proc/{self.server_pid}/stat"))  # every thread's, ended ones included
        if whole is not None:
            out[("server", self.server_pid)] = ("server", whole[1])
        server_tree = _descendants(self.server_pid)
        for pid in server_tree:
            found = _task_cpu(Path(f"/proc/{pid}/stat"))
            if found is not None:
                out[("process", pid)] = ("UMAP worker", found[1])
        for pid in set(_descendants(os.getpid())) - set(server_tree) - {self.server_pid}:
            found = _task_cpu(Path(f"/proc/{pid}/stat"))
            if found is not None:
                out[("process", pid)] = ("viewer", found[1])
        if self.viewer_tid is not None:
            found = _task_cpu(Path(f"/proc/self/task/{self.viewer_tid}/stat"))
            if found is not None:
                out[("thread", self.viewer_tid)] = ("viewer", found[1])
        return out

    def start(self) -> None:
        self._start = {key: cpu for key, (_, cpu) in self._tasks().items()}
        self._last: dict[tuple, tuple[str, float]] = {}
        self.sample()

    def sample(self) -> None:
        """Call often while measuring: a thread or process that ends keeps the CPU time it was last seen with."""
        self._last.update(self._tasks())

    def stop(self) -> dict[str, float]:
        self.sample()
        self.seconds = dict.fromkeys(("train", "page", "server loop", "server other", "UMAP worker", "viewer"), 0.0)
        whole = 0.0
        for key, (kind, cpu) in self._last.items():
            if kind == "server":
                whole = cpu - self._start.get(key, 0.0)
            else:
                self.seconds[kind] += cpu - self._start.get(key, 0.0)
        threads = sum(self.seconds[k] for k in ("train", "page", "server loop", "server other"))
        self.seconds["page"] += max(0.0, whole - threads)  # threads that ended unseen: page runs
        return self.seconds


def _children(pid: int) -> list[int]:
    """Child processes of any thread of ``pid`` (the UMAP worker is started from a worker thread)."""
    found = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:  # it ended meanwhile (a browser page closed)
        return []
    for task in tasks:
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return sorted(set(found))


# --------------------------------------------------------------------------------------------- headless viewer
class HeadlessViewer:
    """A page followed by a client that renders nothing: it opens Streamlit's websocket as a browser does, asks for
    ``page`` (a page name, optionally with a query string) and receives every message the server sends (parsed, to
    count the page runs), in a thread of this process. What the server does for it is what it does for a browser."""

    def __init__(self, server: Server, page: str):
        self.url = server.url.replace("http://", "ws://") + "/_stcore/stream"
        self.origin = server.url
        self.page, _, self.query = page.partition("?")
        self.runs = 0  # page runs the server finished for this viewer
        self.drawn = threading.Event()  # its first page run finished
        self.tid: int | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True, name="headless viewer")
        self._thread.start()

    def _main(self) -> None:
        self.tid = threading.get_native_id()
        try:
            asyncio.run(self._follow())
        except BaseException as err:  # reported by wait_drawn
            self.error = err
            self.drawn.set()

    async def _follow(self) -> None:
        import websockets
        from streamlit.proto.BackMsg_pb2 import BackMsg

        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with websockets.connect(self.url, subprotocols=["streamlit"], origin=self.origin, max_size=None) as ws:
            ask = BackMsg()
            ask.rerun_script.page_name, ask.rerun_script.query_string = self.page, self.query
            await ws.send(ask.SerializeToString())
            receiving = asyncio.ensure_future(self._receive(ws))
            await self._stop.wait()
            receiving.cancel()

    async def _receive(self, ws) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        async for data in ws:
            message = ForwardMsg()
            message.ParseFromString(data)
            if message.WhichOneof("type") == "script_finished":
                self.runs += 1
                self.drawn.set()

    def wait_drawn(self, timeout_s: float = 300.0) -> None:
        if not self.drawn.wait(timeout_s) or self.error is not None:
            raise RuntimeError(f"the headless viewer of {self.page} got no page: {self.error!r}")

    def settle(self, server: Server) -> float:
        """Opened once its first page run arrived (it renders nothing): no CPU of its own worth counting."""
        return 0.0

    def close(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


# --------------------------------------------------------------------------------------------- browser steps
def wait_idle(page, timeout_s: float = 120.0) -> None:
    """Until Streamlit shows no running script for 0.5 s."""
    busy = """() => { const s = document.querySelector('[data-testid="stStatusWidget"]');
        return (s && s.offsetParent !== null) || !!document.querySelector('[data-stale="true"]'); }"""
    page.locator('[data-testid="stAppViewContainer"]').wait_for(state="visible", timeout=120_000)
    deadline, quiet = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        if not page.evaluate(busy):
            quiet = quiet or time.monotonic()
            if time.monotonic() - quiet > 0.5:
                return
        else:
            quiet = None
        page.wait_for_timeout(100)


def start_from_train_page(page, server: Server, epochs: int, per_class: int) -> RunDir:
    """Press Start on the Train page (settings passed in its address) and return the new run."""
    before = {p.name for p in server.runs.iterdir()}
    page.goto(f"{server.url}/train?epochs={epochs}&per_class={per_class}", wait_until="domcontentloaded")
    wait_idle(page)
    page.get_by_role("button", name="Start training").click(timeout=300_000)  # a loaded machine's first page run
    deadline = time.monotonic() + 60
    while not (new := {p.name for p in server.runs.iterdir() if (p / "config.json").exists()} - before):
        if time.monotonic() > deadline:
            raise RuntimeError("Start did not create a run")
        time.sleep(0.1)
    return RunDir(server.runs / new.pop())


def open_page(page, server: Server, which: str) -> None:
    """Open one page in a fresh session (it follows the newest run), or none at all."""
    if which == "none":
        page.goto("about:blank")
        return
    page.goto(f"{server.url}/{which}", wait_until="domcontentloaded")
    page.locator('[data-testid="stMain"] h1').first.wait_for(state="visible", timeout=300_000)  # its script ran
    wait_idle(page)


def wait_ended(run: RunDir, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while run.live():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{run.name} did not end within {timeout_s:.0f} s")
        time.sleep(0.3)
    return run.state()


# --------------------------------------------------------------------------------------------- parts
RUN_EPOCHS = 1000  # a cost training's planned epochs: more than its blocks need; it is stopped after the last one


def measure_cost(browser, server: Server, block: int, per_class: int, pages: tuple[str, ...],
                 repeats: int = 1, viewers: tuple[str, ...] = VIEWERS) -> list[dict]:
    """Epoch time with each page followed by each viewer, against no page, within one training per page and
    viewer: blocks of ``block`` epochs with no page open and with the page open alternate (none, page, none, …,
    ``repeats`` page blocks, none), and each page block is compared with the two blocks beside it. This machine's
    speed drifts by tens of percent over minutes (from one run to the next, 0.9–1.1 s per epoch), which comparing
    whole runs mistook for a page's cost; blocks a few seconds apart in one run see the same machine. A block counts
    the epochs that began after its page was drawn (or closed) and the browser had settled (plotly.js parsed, the
    charts' first layouts: about a core for 2–3 s, reported apart as the opening's CPU): opening a page is a
    one-off, following it is the cost. The training is stopped after its last block."""
    rows = []
    for which in pages:
        for viewer in viewers:
            starter = browser.new_page(viewport={"width": 1440, "height": 1000})
            run = start_from_train_page(starter, server, RUN_EPOCHS, per_class)
            starter.goto("about:blank")
            blocks = [_measure_block(browser, server, run, which if i % 2 else "none", viewer, block)
                      for i in range(2 * repeats + 1)]
            stop_run(starter, server, run)
            starter.close()
            rows += [{**row, "state": run.state()} for row in blocks]
    for i, row in enumerate(rows):
        beside = [rows[j]["epoch_s"] for j in (i - 1, i + 1)
                  if 0 <= j < len(rows) and rows[j]["page"] == "none" and rows[j]["run"] == row["run"]]
        row["ratio"] = row["epoch_s"] / (sum(beside) / len(beside)) if row["page"] != "none" else float("nan")
    return rows


def _measure_block(browser, server: Server, run: RunDir, which: str, viewer: str, block: int) -> dict:
    """``block`` epochs of ``run`` with ``which`` open in ``viewer`` ("none": no page): their mean time and the CPU
    each part used meanwhile, and what opening the page cost the viewer once."""
    follower = _follow(browser, server, which, viewer)
    opening_cpu = follower.settle(server)
    # The epoch in progress began while the page was opening (a one-off: plotly.js parsed, the charts' first
    # layouts); the next one began after: count from it.
    first = len(run.metrics()) + 1
    meter = CpuMeter(server.process.pid, follower.tid)
    meter.start()
    began = time.monotonic()
    while len(run.metrics()) < first + block:
        if not run.live() or time.monotonic() - began > 300 + 60 * block:
            raise RuntimeError(f"{run.name} ended or stalled ({run.state()}) before its block ended")
        meter.sample()
        time.sleep(0.2)
    wall = time.monotonic() - began
    cpu = meter.stop()
    follower.close()
    seconds = [float(r["seconds"]) for r in run.metrics() if first <= r.get("epoch", 0) < first + block]
    return {"part": "cost", "page": which, "viewer": viewer if which != "none" else "", "run": run.name,
            "epochs": len(seconds), "epoch_s": sum(seconds) / len(seconds), "wall_s": wall,
            "page_runs": follower.runs, "opening_cpu_s": opening_cpu,
            **{f"cpu {k}": v / wall for k, v in cpu.items()}}


SETTLED_CORES = 0.5  # a browser has opened its page once it uses less than this over SETTLE_WINDOW_S
SETTLE_WINDOW_S = 1.0


class _NoPage:
    tid = runs = None  # no viewer thread, no page runs counted

    def settle(self, server: Server) -> float:
        """Wait until opening the page is over; return the viewer's CPU seconds since it was drawn (0: none)."""
        return 0.0

    def close(self) -> None:
        pass


class _BrowserPage(_NoPage):
    def __init__(self, browser, server: Server, which: str):
        self.page = browser.new_page(viewport={"width": 1440, "height": 1000})
        open_page(self.page, server, which)

    def settle(self, server: Server, timeout_s: float = 60.0) -> float:
        """Opening a page keeps Chromium busy (about a core) for a few seconds after the page is drawn: plotly.js
        parsed, the charts' first layouts, web fonts. Following the run costs a fraction of that, in bursts at each
        redraw: wait for the first window of SETTLE_WINDOW_S in which the browser used less than SETTLED_CORES."""
        meter = CpuMeter(server.process.pid)
        meter.start()
        began = time.monotonic()
        last = 0.0
        while time.monotonic() - began < timeout_s:
            time.sleep(SETTLE_WINDOW_S)
            meter.sample()
            used = meter.stop()["viewer"]
            if used - last < SETTLED_CORES * SETTLE_WINDOW_S:
                return used
            last = used
        raise RuntimeError(f"the browser kept {SETTLED_CORES} cores busy for {timeout_s:.0f} s after drawing the "
                           "page")

    def close(self) -> None:
        self.page.close()


def _follow(browser, server: Server, which: str, viewer: str):
    """Open ``which`` in ``viewer`` (drawn when this returns): an object with ``close()``, the viewer's thread id
    ``tid`` (headless) and the ``runs`` of the page the server finished for it (headless)."""
    if which == "none":
        return _NoPage()
    if viewer == "headless":
        headless = HeadlessViewer(server, which)
        headless.wait_drawn()
        return headless
    return _BrowserPage(browser, server, which)


def stop_run(page, server: Server, run: RunDir) -> None:
    """Press Stop on the run's Train page and wait until it has stopped."""
    page.goto(f"{server.url}/train?run={run.name}", wait_until="domcontentloaded")
    page.get_by_role("button", name="Stop").click(timeout=120_000)
    wait_ended(run, timeout_s=120)


def cost_summary(rows: list[dict]) -> list[dict]:
    """Per page and viewer: its blocks' mean ratio (and the lowest and highest)."""
    out = []
    for which, viewer in dict.fromkeys((r["page"], r["viewer"]) for r in rows if r["page"] != "none"):
        ratios = [r["ratio"] for r in rows if (r["page"], r["viewer"]) == (which, viewer)]
        opening = [r["opening_cpu_s"] for r in rows if (r["page"], r["viewer"]) == (which, viewer)]
        out.append({"page": which, "viewer": viewer, "blocks": len(ratios), "ratio": sum(ratios) / len(ratios),
                    "low": min(ratios), "high": max(ratios), "opening_cpu_s": sum(opening) / len(opening)})
    return out


def _external_training(runs: Path, epochs: int, points: int, train_per_class: int = 100,
                       classes_hint: int = 12) -> tuple[subprocess.Popen, str]:
    """A training in its own process (like ``python -m core.train``) whose snapshots hold ``points`` points."""
    per_class = -(-points // classes_hint)
    name = f"latency-{points}-{time.time_ns()}"
    code = ("import sys, json; sys.path.insert(0, %r)\n"
            "from core import Trainer\nfrom core.build import build_config\nimport dataclasses\n"
            "c = build_config(json.loads(sys.argv[1]))\n"
            "c = c.replace(data=dataclasses.replace(c.data, snapshot_size=int(sys.argv[2])))\n"
            "Trainer(c, root=sys.argv[3], run_name=sys.argv[4]).fit()\n") % str(ROOT)
    settings = {"dataset": "synthetic", "epochs": epochs, "test_per_class": per_class,
                "train_per_class": train_per_class}
    proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(settings), str(points), str(runs), name],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, name


def _shown_epoch(page) -> int | None:
    """The newest epoch the Collapse projection's title names ("epochs 0–7" or "Epoch 7")."""
    found = re.findall(r"[Ee]pochs? (?:\d+\s*[–-]\s*)?(\d+)", page.evaluate(TITLE_JS))
    return max(map(int, found)) if found else None


def _train_page_epoch(page) -> int | None:
    """The epoch the Train page's progress bar names ("epoch 7 of 10 evaluated")."""
    found = re.search(r"epoch (\d+) of \d+ evaluated", page.evaluate(MAIN_TEXT_JS))
    return int(found.group(1)) if found else None


def measure_latency(browser, server: Server, epochs: int, points: int, method: str, which: str = "collapse",
                    train_per_class: int = 100) -> list[dict]:
    """Per epoch: metrics row on disk → the page ``which`` showing that epoch (Collapse: its projection, with
    ``method``; Train: its progress line)."""
    proc, name = _external_training(server.runs, epochs, points, train_per_class)
    run = RunDir(server.runs / name)
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    rows, row_seen, view_seen, ended = [], {}, {}, None
    try:
        deadline = time.monotonic() + 60
        while not (run.path / "config.json").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the latency training did not start: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
        open_page(page, server, "collapse" if which == "collapse" else f"train?run={name}")
        if method == "UMAP":
            with contextlib.suppress(Exception):
                page.get_by_text("UMAP", exact=True).first.click(timeout=10_000)
        deadline = time.monotonic() + 300 + 120 * epochs
        while time.monotonic() < deadline:
            now = time.monotonic()
            for r in run.metrics():
                row_seen.setdefault(int(r["epoch"]), now)
            shown = _shown_epoch(page) if which == "collapse" else _train_page_epoch(page)
            ready = method != "UMAP" or "UMAP," in page.evaluate(MAIN_TEXT_JS)
            if shown is not None and ready:
                for e in row_seen:
                    if e <= shown:
                        view_seen.setdefault(e, now)
            if proc.poll() is not None:
                ended = ended or now
                if (set(row_seen) <= set(view_seen) and row_seen) or now - ended > 60:
                    break  # every epoch shown, or the page has not caught up a minute after the end
            page.wait_for_timeout(150)
    finally:
        page.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    for e in sorted(row_seen):
        rows.append({"part": f"latency {method}", "page": which, "run": name, "epoch": e, "points": points,
                     "latency_s": view_seen[e] - row_seen[e] if e in view_seen else float("nan")})
    return rows


def measure_memory(browser, server: Server, epochs: int) -> list[dict]:
    """RSS of the server (and its UMAP worker) before and after ``epochs`` tiny epochs followed on Collapse."""
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    run = start_from_train_page(page, server, epochs, 10)
    open_page(page, server, "collapse")
    settled = min(3, epochs)  # data, model and first snapshots loaded: growth after this is what could leak
    deadline = time.monotonic() + 600
    while len(run.metrics()) < settled and run.live() and time.monotonic() < deadline:
        time.sleep(0.2)
    start = server.rss_mib()
    state = wait_ended(run, timeout_s=600 + 10 * epochs)
    end = server.rss_mib()  # at the end of the run, the page still open
    page.close()
    return [{"part": "memory", "page": "collapse", "run": run.name, "state": state, "epochs": epochs,
             "process": "server" if proc == "server" else "UMAP worker", "rss_start_mib": start.get(proc, float("nan")),
             "rss_end_mib": mib, "growth": mib / start[proc] - 1 if proc in start else float("nan")}
            for proc, mib in end.items()]


def _chromium(folder: Path, nice: int) -> str:
    """Chromium, or a wrapper that starts it ``nice`` steps below this process (its processes inherit that) where
    this process or its browser is niced.

    Playwright starts the browser in a session of its own, and the server runs in another: where the kernel groups
    each session's processes (``/proc/sys/kernel/sched_autogroup_enabled``), the groups share the CPU as equals and a
    process's nice value only ranks it within its group. So the wrapper gives its session's group the browser's nice
    value too (``/proc/self/autogroup``; raising a nice value needs no privilege); a plain ``nice`` did nothing there."""
    chromium = shutil.which("chromium")
    if not nice and not os.getpriority(os.PRIO_PROCESS, 0):
        return chromium
    wrapper = folder / "chromium-niced"
    wrapper.write_text(f'#!/bin/sh\nnice -n {int(nice)} nice 2>/dev/null > /proc/self/autogroup\n'
                       f'exec nice -n {int(nice)} {chromium} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


# --------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="toy sizes for every part (the test suite uses it)")
    parser.add_argument("--block", type=int, default=6,
                        help="epochs per block of the cost part (counted after the page is drawn or closed)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of the latency part's short-epoch runs")
    parser.add_argument("--per-class", type=int, default=200, help="training images per class (synthetic default)")
    parser.add_argument("--pages", default=",".join(PAGES), help="pages to follow a run with")
    parser.add_argument("--repeats", type=int, default=2, help="blocks with the page open per page and viewer")
    parser.add_argument("--viewers", default=",".join(VIEWERS),
                        help="who follows each page in the cost part: browser (headless Chromium on this machine), "
                             "headless (a websocket client that renders nothing: the server's own cost)")
    parser.add_argument("--points", type=int, default=5000, help="snapshot points for the latency part")
    parser.add_argument("--latency-epochs", type=int, default=5)
    parser.add_argument("--memory-epochs", type=int, default=100)
    parser.add_argument("--parts", default="cost,latency,memory")
    parser.add_argument("--nice", type=int, default=0,
                        help="add this to the nice value of this benchmark, its server and its browser (negative: higher "
                             "priority, root only), so the other processes of a shared machine disturb it less")
    parser.add_argument("--browser-nice", type=int, default=0,
                        help="run the browser (and its session's scheduling group) this many nice steps below the "
                             "server: the cost when the training has priority over the browser (a browser on the "
                             "viewer's own machine costs what the headless viewer measures); its CPU is reported "
                             "either way")
    parser.add_argument("--keep", action="store_true", help="keep the run store and the server log (path printed)")
    args = parser.parse_args(argv)
    if args.nice:
        os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0) + args.nice)  # children inherit it
    if args.quick:
        args.epochs, args.per_class, args.points, args.latency_epochs, args.memory_epochs = 24, 10, 240, 2, 3
        args.block, args.repeats = 2, 1
    parts = set(args.parts.split(","))
    pages = tuple(p for p in args.pages.split(",") if p)
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="bench_live_"))
    (folder / "runs").mkdir()
    rows: list[dict] = []
    server = Server(folder / "runs")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=_chromium(folder, args.browser_nice), args=CHROMIUM_ARGS)
            try:
                if "cost" in parts:
                    rows += measure_cost(browser, server, args.block, args.per_class, pages, args.repeats,
                                         tuple(v for v in args.viewers.split(",") if v))
                if "latency" in parts:
                    for method in ("PCA", "UMAP"):
                        rows += measure_latency(browser, server, args.latency_epochs, args.points, method)
                    for which in ("train", "collapse"):  # short epochs: a page is redrawn at most every GAP_S
                        rows += measure_latency(browser, server, args.epochs, min(600, args.points),
                                                "PCA" if which == "collapse"
                                                else "text", which, train_per_class=args.per_class)
                if "memory" in parts:
                    rows += measure_memory(browser, server, args.memory_epochs)
            finally:
                browser.close()
    finally:
        server.stop()
        if args.keep:
            print(f"run store and server log kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    report(rows, args)
    return rows


def report(rows: list[dict], args=None) -> None:
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (timings are noisy when it is high)")
    if args is not None and (args.nice or args.browser_nice):
        print(f"benchmark, server and browser at nice {args.nice:+d} (relative to the machine's other processes); "
              f"browser {args.browser_nice:+d} below the server")
    cost = [r for r in rows if r["part"] == "cost"]
    if cost:
        print("\nEpoch time while a page follows the run (goal: ratio ≤ 1.15), block by block; one training per "
              "page and viewer")
        print(render_table([Column("page", "<10", "page"), Column("viewer", "<9", "viewer"),
                            Column("epochs", ">6", "epochs"), Column("s/epoch", ">8", "epoch_s", ".2f"),
                            Column("ratio", ">6", "ratio", ".2f"), Column("run", "<40", "run")], cost))
        print("\nPer page and viewer (ratio to the blocks with no page beside each of its blocks; browser: Chromium "
              "on the training's cores, headless: the server's own cost)")
        print(render_table([Column("page", "<10", "page"), Column("viewer", "<9", "viewer"),
                            Column("blocks", ">6", "blocks"), Column("ratio", ">6", "ratio", ".2f"),
                            Column("low", ">6", "low", ".2f"), Column("high", ">6", "high", ".2f"),
                            Column("opening CPU s", ">13", "opening_cpu_s", ".1f")],
                           cost_summary(cost)))
        print("(opening CPU s: the viewer's CPU from the page drawn until it settled, once per opening; the blocks "
              "count from the first epoch after that)")
        print("\nCores used while the run trained (CPU seconds / wall seconds; 2.0 = both cores of this machine)")
        kinds = [k for k in cost[0] if k.startswith("cpu ")]
        print(render_table([Column("page", "<10", "page"), Column("viewer", "<9", "viewer"),
                            Column("wall s", ">6", "wall_s", ".1f"),
                            *(Column(k[4:], ">12", k, ".2f") for k in kinds)], cost))
    latency = [r for r in rows if r["part"].startswith("latency")]
    if latency:
        print("\nEpoch end → the page showing it (goal ≤ 3 s)")
        groups = {}
        for r in latency:
            groups.setdefault((r["page"], r["part"], r["points"]), []).append(r["latency_s"])
        print(render_table([Column("page", "<9", "page"), Column("shown", "<14", "part"),
                            Column("points", ">6", "points"), Column("epochs", ">6", "epochs"),
                            Column("median s", ">8", "median", ".2f"), Column("max s", ">6", "max", ".2f"),
                            Column("over 3 s", ">8", "over")],
                           [{"page": page, "part": part, "points": points, "epochs": len(values),
                             "median": statistics.median(values), "max": max(values),
                             "over": sum(v > 3 or math.isnan(v) for v in values)}
                            for (page, part, points), values in groups.items()]))
        few = [r for r in latency if len(groups[(r["page"], r["part"], r["points"])]) <= 8]
        if few:
            print("\nPer epoch")
            print(render_table([Column("page", "<9", "page"), Column("shown", "<14", "part"),
                                Column("points", ">6", "points"), Column("epoch", ">5", "epoch"),
                                Column("latency s", ">9", "latency_s", ".2f")], few))
    memory = [r for r in rows if r["part"] == "memory"]
    if memory:
        print(f"\nResident memory over {memory[0]['epochs']} epochs followed on Collapse (goal: growth ≤ 10 %)")
        print(render_table([Column("process", "<14", "process"), Column("start MiB", ">9", "rss_start_mib", ".0f"),
                            Column("end MiB", ">8", "rss_end_mib", ".0f"), Column("growth", ">7", "growth", "+.1%")],
                           memory))


if __name__ == "__main__":
    main()
