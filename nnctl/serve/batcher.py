"""A micro-batching queue: concurrent requests run through the model as one batch.

Each request puts its rows on an asyncio queue and awaits a future. One worker task takes the
first waiting request, then keeps taking requests until the batch holds ``max_batch`` rows or
``max_wait`` seconds have passed since the first one, runs the model once on the concatenated
rows in a single worker thread (nnctl sessions are not meant to be shared between threads, and
one thread keeps the event loop free to accept requests meanwhile), and hands each request its
slice of the result. A model failure fails only the requests of that batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np


@dataclass
class BatchStats:
    requests: int = 0
    rows: int = 0
    batches: int = 0
    largest_batch: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"requests": self.requests, "rows": self.rows, "batches": self.batches,
                "largest_batch": self.largest_batch}


class MicroBatcher:
    """``await batcher.submit(x)`` -> ``fn(x)``'s result, computed together with concurrent submissions.

    ``fn(x_batch) -> tuple of arrays`` (each with the batch's rows first)."""

    def __init__(self, fn: Callable[[np.ndarray], tuple[np.ndarray, ...]], max_batch: int = 256,
                 max_wait: float = 0.002) -> None:
        self.fn = fn
        self.max_batch = max(1, int(max_batch))
        self.max_wait = max(0.0, float(max_wait))
        self.stats = BatchStats()
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nnctl-model")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._worker())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._pool.shutdown(wait=True)

    async def submit(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        if self._queue is None:
            raise RuntimeError("MicroBatcher.submit before start()")
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        await self._queue.put((x, fut))
        return await fut

    async def _worker(self) -> None:
        assert self._queue is not None
        q = self._queue
        loop = asyncio.get_running_loop()
        while True:
            items = [await q.get()]
            n = len(items[0][0])
            deadline = loop.time() + self.max_wait
            while n < self.max_batch:
                try:
                    item = q.get_nowait()
                except asyncio.QueueEmpty:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(q.get(), left)
                    except asyncio.TimeoutError:
                        break
                items.append(item)
                n += len(item[0])
            await self._run(loop, items, n)

    async def _run(self, loop: asyncio.AbstractEventLoop, items: list, n: int) -> None:
        live = [(x, f) for x, f in items if not f.done()]  # a client that went away cancelled its future
        if not live:
            return
        x = live[0][0] if len(live) == 1 else np.concatenate([x for x, _ in live])
        try:
            res = await loop.run_in_executor(self._pool, self.fn, x)
        except Exception as e:  # fail this batch's requests, keep serving
            for _, f in live:
                if not f.done():
                    f.set_exception(e)
            return
        st = self.stats
        st.batches += 1
        st.requests += len(live)
        st.rows += len(x)
        st.largest_batch = max(st.largest_batch, len(x))
        i = 0
        for xi, f in live:
            k = len(xi)
            if not f.done():
                f.set_result(tuple(r[i:i + k] for r in res))
            i += k
