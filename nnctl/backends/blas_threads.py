"""Running one small GEMM on one BLAS thread.

numpy's OpenBLAS splits every GEMM above a tiny size over all its threads, and its threads
busy-wait for each other at the end of each call. For small products such as those of a batched
attention matmul (one [64, 32] x [32, 64] call per head and example) the split costs more than it
saves, and on a machine with more runnable processes than cores it is ruinous: measured on the
2-core benchmark VM under load, an LSTM step's [64, 160] x [160, 512] product took 6.2 ms on two
threads and 0.25 ms on one. So the matmul kernel runs products below ``SMALL_GEMM`` multiply-adds
per BLAS call with the thread count set to one for the call. The bound is 2^22: on the idle VM,
2^24 (which put that LSTM product on one thread) made the lstm workload 29 -> 31-36 ms/step and
mlp no faster. Larger products keep the library's setting.

The thread count is a function of the product's shape only, never of the machine's load: on some
CPUs OpenBLAS's result depends on how many threads computed it (measured on an AMD EPYC VM with
OpenBLAS 0.3.31's Haswell kernels: 243 of 1944 float32 shapes differed between one and two
threads, by a few ulps), so a policy that followed the load average would make a resumed run
differ from an uninterrupted one. Every backend whose products run on numpy's BLAS in this process
(``Backend.host_blas``) goes through the same policy, so they all give the same bits. The control
is looked up once: numpy's OpenBLAS as a loaded shared library (under its plain or scipy-openblas
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

# After a call on several threads OpenBLAS's workers busy-wait for the next one (THREAD_TIMEOUT:
# 2^28 cycles, about 0.1 s): a compute thread of ours started meanwhile gets half a core (the cnn
# workload's direct convolutions ran 1.4x slower on two threads than on one). The kernels that run
# their own threads ask ``workers_spinning()`` and take one then; that changes time, never bits.
SPIN_S = 0.1
_threaded_call = [float("-inf")]  # when the last GEMM left on the library's threads started


def note_threaded_call() -> None:
    """Record a GEMM run on the library's own threads (serial() does it for the products it leaves)."""
    _threaded_call[0] = time.monotonic()


def workers_spinning() -> bool:
    """A GEMM on several BLAS threads ran within SPIN_S: its workers are likely still busy-waiting."""
    return control() is not None and time.monotonic() - _threaded_call[0] < SPIN_S


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
    it is small; the library's own setting otherwise (and always when it has one thread, or there
    is no control). A GEMM the library runs on one thread anyway (TINY_GEMM) gets ``step`` itself:
    XOR's steps are that small."""
    if macs <= TINY_GEMM:
        return step
    api = control()
    if api is None:
        return step
    setter, n = api
    if macs >= SMALL_GEMM:
        def threaded() -> Any:
            note_threaded_call()
            return step()
        return threaded

    def one_thread() -> Any:
        setter(1)
        try:
            return step()
        finally:
            setter(n)
    return one_thread


# A batched product of small matrices (attention's [64, 32] x [32, 64] per head and example) is one
# BLAS call per matrix, each on one thread (TINY_GEMM), so one core does all of them while the others
# idle. Splitting the batch into blocks run by Python threads at once (numpy's matmul releases the
# GIL) puts every core to work; each matrix is still one BLAS call of the same shape, so the result
# is the same bits. Worth a thread hand-off (~20 us) from this many multiply-adds per step on.
SPLIT_BATCH_MACS = 1 << 21


def split_batch(make_step: Callable[[int, int], Callable[[], Any]], batch: int, macs_per_matrix: int,
                total_macs: int) -> Callable[[], Any] | None:
    """A step computing a batched product whose leading axis has ``batch`` entries
    (``make_step(lo, hi)`` computes entries [lo, hi)) split over the BLAS library's thread count, or
    None where that does not pay: a matrix big enough for the library's own threads, a small whole,
    one thread. The blocks run one after the other while the machine is oversubscribed: every matrix
    is one single-threaded BLAS call either way, so that changes time, not bits."""
    api = control()
    if api is None or batch < 2 or macs_per_matrix > TINY_GEMM or total_macs < SPLIT_BATCH_MACS:
        return None
    from nnctl.runtime import parallel
    whole = make_step(0, batch)
    split = parallel.split_step(make_step, batch, api[1])

    def run() -> Any:
        return whole() if oversubscribed() else split()
    return run
