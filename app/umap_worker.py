"""The UMAP worker process: ``python -m app.umap_worker``, started by :class:`app.projector.Projector`.

It runs at the lowest CPU priority with one thread for numba and BLAS (set in its environment by the
parent), so it only uses cycles a training leaves idle and never holds the server's GIL. Protocol on
stdin/stdout, one request at a time: an 8-byte little-endian length, then an ``.npz`` payload (read
with ``allow_pickle=False``). Requests: ``features`` (n, d) and optionally ``init`` (n, 2); or
``warm``, a snapshot size to compile UMAP for. Replies: ``points`` (n, 2), or ``error`` (a string). It exits
when stdin closes or its parent process is gone, i.e. when the server exits or is killed.
"""
from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time
import warnings

import numpy as np


def read_message(stream) -> dict[str, np.ndarray] | None:
    header = stream.read(8)
    if len(header) < 8:
        return None
    payload = stream.read(int.from_bytes(header, "little"))
    with np.load(io.BytesIO(payload), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def write_message(stream, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    payload = buffer.getvalue()
    stream.write(len(payload).to_bytes(8, "little") + payload)
    stream.flush()


def _exit_with_parent(parent: int) -> None:
    """Exit as soon as the server that started us is gone, even in the middle of a long projection."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _killed_with_parent() -> None:
    """Linux: the kernel SIGKILLs this process when the server thread that started it ends (the server's one
    projector thread, which lives as long as the server). Unlike the thread above this works while the server holds
    us stopped (SIGSTOP while a training runs): a stopped worker of a SIGKILLed server would otherwise wait forever."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError, TypeError):  # not Linux
        pass


def main() -> None:
    os.nice(19)
    parent = os.getppid()
    _killed_with_parent()
    if os.getppid() != parent:  # the server died before the line above: nobody to serve
        os._exit(0)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    warnings.filterwarnings("ignore")  # umap's notes about n_jobs and spectral init are not for the server log
    from app.projector import umap_2d, warm_up

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while (request := read_message(stdin)) is not None:
        try:
            if "warm" in request:
                warm_up(int(request["warm"]))
                reply = {"points": np.zeros((0, 2), np.float32)}
            else:
                reply = {"points": umap_2d(request["features"], request.get("init"))}
        except Exception as err:  # noqa: BLE001 - reported to the page, the worker keeps serving
            reply = {"error": np.array(f"{type(err).__name__}: {err}")}
        write_message(stdout, reply)


if __name__ == "__main__":
    main()
