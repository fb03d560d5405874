"""Running one small GEMM on one BLAS thread.

numpy's OpenBLAS splits every GEMM above a tiny size over all its threads, and its threads
busy-wait for each other at the end of each call. For small products such as those of a batched
attention matmul (one [64, 32] x [32, 64] call per head and example) the split costs more than it
saves, and on a machine with more runnable processes than cores it is ruinous: measured on the
2-core benchmark VM under load, an LSTM step's [64, 160] x [160, 512] product took 6.2 ms on two
threads and 0.25 ms on one; the lstm workload ran at 790-1010 ms/step with two threads and 108-113
with one. So the matmul kernel runs products below ``SMALL_GEMM`` multiply-adds per BLAS call with
the thread count set to one for the call. The bound is 2^22: on the idle VM, 2^24 (which put that
LSTM product on one thread) made the lstm workload 29 -> 31-36 ms/step and mlp no faster. Larger
ones keep the library's setting while the machine has a core per runnable task; when the 1-minute
load average exceeds the cores this process may use (other processes are waiting for CPU), they
run on one thread too: the transformer workload measured 270-284 ms/step on one thread and
877-2158 on two at a load of 12 on 2 cores.

The results do not depend on the thread count (OpenBLAS splits the rows and columns of the result,
never the summed dimension; checked bit for bit), so this changes only time. The control is
looked up once: numpy's OpenBLAS as a loaded shared library (under its plain or scipy-openblas
symbol names); where there is none (another BLAS, no /proc), ``serial()`` returns the step
unchanged.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable
from typing import Any

SMALL_GEMM = 1 << 22  # multiply-adds per BLAS call below which one thread does the product
# OpenBLAS itself runs a GEMM of at most 65536 * GEMM_MULTITHREAD_THRESHOLD (4) multiply-adds on one
# thread (interface/gemm.c): below that, switching the thread count would only add two calls per step
TINY_GEMM = 1 << 18
LOAD_RECHECK_S = 1.0  # how long a reading of the load average is trusted

_lock = threading.Lock()
_api: Any = None  # (set_num_threads, default thread count), or False when there is no control


def _find() -> Any:
    try:
        import numpy  # noqa: F401 - its BLAS must be loaded before we look for it
        with open("/proc/self/maps") as f:
            paths = sorted({ln.split()[-1] for ln in f if "openblas" in ln.lower() and "/" in ln})
    except OSError:
        return False
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_", ""):
            for suffix in ("64_", ""):
                setter = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None)
                getter = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
                if setter is not None and getter is not None:
                    setter.argtypes, setter.restype = [ctypes.c_int], None
                    getter.argtypes, getter.restype = [], ctypes.c_int
                    n = int(getter())
                    return (setter, n) if n > 1 else False
    return False


def control() -> Any:
    """(set_num_threads, default count) of numpy's OpenBLAS, or None (no control, or one thread)."""
    global _api
    if _api is None:
        with _lock:
            if _api is None:
                _api = _find()
    return _api or None


_load = [0.0, False]  # (when read, oversubscribed then)


def oversubscribed() -> bool:
    """The 1-minute load average exceeds the cores this process may run on (re-read each second)."""
    now = time.monotonic()
    if now - _load[0] > LOAD_RECHECK_S:
        try:
            cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cores = os.cpu_count() or 1
        try:
            _load[1] = os.getloadavg()[0] > cores + 0.5
        except OSError:
            _load[1] = False
        _load[0] = now
    return bool(_load[1])


def serial(step: Callable[[], Any], macs: int) -> Callable[[], Any]:
    """``step`` (a bound GEMM of ``macs`` multiply-adds per BLAS call), run on one BLAS thread when
    it is small, or when it is large and the machine is oversubscribed; the library's own setting
    otherwise (and always when it has one thread, or there is no control). A GEMM the library runs
    on one thread anyway (TINY_GEMM) gets ``step`` itself: XOR's steps are that small."""
    if macs <= TINY_GEMM:
        return step
    api = control()
    if api is None:
        return step
    setter, n = api
    if macs < SMALL_GEMM:
        def one_thread() -> Any:
            setter(1)
            try:
                return step()
            finally:
                setter(n)
        return one_thread

    def by_load() -> Any:
        if not oversubscribed():
            return step()
        setter(1)
        try:
            return step()
        finally:
            setter(n)
    return by_load
