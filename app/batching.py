"""Dynamic micro-batching: concurrent requests' work for one network gathered into one forward pass.

Callers `await submit(item, rows)`; a dispatcher task takes what is waiting, up to `max_rows` rows, runs
`run(items)` once in the model's executor (off the event loop) and hands each caller its own result.
While a batch runs, new items queue up and form the next one, so under load batches fill by themselves.
The window adapts to the load, as BentoML's dispatcher does: the dispatcher expects as many requests as the
last batch held (as many as the load brought then), and waits at most `max_wait` for them before it starts.
A lone client's batches hold one item, so it never waits at all; sixteen clients get batches of sixteen.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import KW_ONLY, InitVar, dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
logger = logging.getLogger("cvae.batching")


class BatcherClosedError(RuntimeError):
    """The service is shutting down: work not yet started is refused, not left hanging."""


@dataclass
class _Pending(Generic[Item, Result]):
    item: Item
    rows: int
    future: asyncio.Future[Result] = field(repr=False)


@dataclass(eq=False)
class MicroBatcher(Generic[Item, Result]):
    """Runs `run(items) -> results` (one result per item, in order) for batches of concurrent submissions.

    `run` may raise for a whole batch; then each of its items is run again alone, so that one bad item
    fails only its own caller. With `enabled=False` every item runs alone, in the same executor.
    """

    run: Callable[[Sequence[Item]], Sequence[Result]]
    executor: Executor
    _: KW_ONLY
    max_rows: int
    max_wait: float
    concurrency: InitVar[int] = 1
    enabled: bool = True
    name: str = "batch"

    def __post_init__(self, concurrency: int) -> None:
        self._queue: deque[_Pending[Item, Result]] = deque()
        self._queued_rows = 0
        self._arrived = asyncio.Event()
        self._closed = False
        self._dispatcher: asyncio.Task[None] | None = None
        self._free_slots = asyncio.Semaphore(concurrency)  # batches that may run at once
        self._running: set[asyncio.Task[None]] = set()
        self._expected_items = 1  # items in the last batch
        self._observers: list[Callable[[int, int, float], None]] = []

    async def submit(self, item: Item, rows: int = 1) -> Result:
        """The result of `run([item])`, computed in whatever batch the item joins."""
        if self._closed:
            raise BatcherClosedError(f"{self.name}: the service is shutting down")
        if not self.enabled:
            return (await self._execute([item]))[0]
        if self._dispatcher is None:
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch(), name=self.name)
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(item, rows, future))
        self._queued_rows += rows
        self._arrived.set()
        return await future

    async def close(self) -> None:
        """Refuse new work, fail what is queued, and let the batch that is running finish."""
        self._closed = True
        while self._queue:
            pending = self._queue.popleft()
            if not pending.future.done():
                pending.future.set_exception(BatcherClosedError(f"{self.name}: the service is shutting down"))
        self._queued_rows = 0
        self._arrived.set()  # wake the dispatcher so that it sees the flag and returns
        if self._dispatcher is not None:
            await self._dispatcher
        await asyncio.gather(*self._running)

    async def _dispatch(self) -> None:
        while not self._closed:
            await self._arrived.wait()
            await self._free_slots.acquire()  # items keep gathering while every slot is busy
            if self._closed:
                self._free_slots.release()
                return
            if self._still_expected():
                await self._wait_for_company()
            batch = self._take()
            if not self._queue:
                self._arrived.clear()
            if not batch:
                self._free_slots.release()
                continue
            task = asyncio.get_running_loop().create_task(self._run_batch(batch))
            self._running.add(task)
            task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._free_slots.release()

    async def _wait_for_company(self) -> None:
        """Wait up to the window for as many items as the last batch had; return as soon as they are here."""
        deadline = time.perf_counter() + self.max_wait
        while self._still_expected() and not self._closed:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _still_expected(self) -> bool:
        return len(self._queue) < self._expected_items and self._queued_rows < self.max_rows

    def _take(self) -> list[_Pending[Item, Result]]:
        """The queue's head up to max_rows rows (a larger item goes alone), less the cancelled items."""
        batch: list[_Pending[Item, Result]] = []
        rows = 0
        while self._queue:
            pending = self._queue[0]
            if batch and rows + pending.rows > self.max_rows:
                break
            self._queue.popleft()
            self._queued_rows -= pending.rows
            if not pending.future.done():  # a caller that went away (cancelled) needs no answer
                batch.append(pending)
                rows += pending.rows
        return batch

    async def _run_batch(self, batch: list[_Pending[Item, Result]]) -> None:
        start = time.perf_counter()
        try:
            results = await self._execute([pending.item for pending in batch])
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0].future, error=error)
            else:  # find the culprit: each item alone, so that only its own caller sees the error
                logger.debug(
                    "%s: a batch of %d failed (%r); running its items alone", self.name, len(batch), error
                )
                for pending in batch:
                    try:
                        _settle(pending.future, (await self._execute([pending.item]))[0])
                    except Exception as alone:
                        _settle(pending.future, error=alone)
        else:
            for pending, result in zip(batch, results, strict=True):
                _settle(pending.future, result)
        elapsed = time.perf_counter() - start
        rows = sum(pending.rows for pending in batch)
        self._expected_items = len(batch)
        for observe in self._observers:
            observe(len(batch), rows, elapsed)

    def add_observer(self, observe: Callable[[int, int, float], None]) -> None:
        """observe(items, rows, seconds) is called after each batch (metrics, tests)."""
        self._observers.append(observe)

    async def _execute(self, items: list[Item]) -> Sequence[Result]:
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.run, items)


def _settle(
    future: asyncio.Future[Result], result: Result | None = None, error: Exception | None = None
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]
