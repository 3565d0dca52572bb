"""The micro-batcher on its own: results reach their callers, failures stay with their item, the cap and the
window hold, and shutdown leaves no caller hanging. Plain functions stand in for the networks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.batching import BatcherClosedError, MicroBatcher

# Generous bounds that only a hang (or a wait far past the window) would reach; no test measures speed.
HANG = 10.0


class Recorder:
    """run(items) for the batcher: squares each item, records every batch, and can be held or made to fail."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on
        self.release = threading.Event()
        self.release.set()
        self.started = threading.Event()

    def __call__(self, items: Sequence[int]) -> list[int]:
        self.started.set()
        self.release.wait(HANG)
        self.batches.append(list(items))
        if self.fail_on in items:
            raise ValueError(f"bad item {self.fail_on}")
        return [item * item for item in items]


@pytest.fixture
def executor():
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, HANG))


async def _gather_while_held(
    batcher: MicroBatcher, recorder: Recorder, items: list[int], rows: int = 1
) -> list:
    """Submit items[0], hold the model until it runs, queue the rest behind it, then let everything run."""
    recorder.release.clear()
    first = asyncio.create_task(batcher.submit(items[0], rows))
    await asyncio.to_thread(recorder.started.wait, HANG)
    rest = [asyncio.create_task(batcher.submit(item, rows)) for item in items[1:]]
    await asyncio.sleep(0.01)  # let every task reach the queue
    recorder.release.set()
    return await asyncio.gather(first, *rest, return_exceptions=True)


def test_each_caller_gets_its_own_result_from_shared_batches(executor) -> None:
    recorder = Recorder()
    batcher = MicroBatcher(recorder, executor, max_rows=256, max_wait=0.0)
    results = run(_gather_while_held(batcher, recorder, list(range(50))))
    assert results == [item * item for item in range(50)]
    assert recorder.batches[0] == [0] and recorder.batches[1] == list(range(1, 50))  # one pass for 49


def test_under_random_concurrency_results_are_never_mixed_up(executor) -> None:
    recorder = Recorder()
    batcher = MicroBatcher(recorder, executor, max_rows=16, max_wait=0.001)

    async def caller(item: int) -> int:
        await asyncio.sleep((item * 7 % 11) / 1000)
        return await batcher.submit(item)

    async def main() -> list[int]:
        return await asyncio.gather(*(caller(item) for item in range(300)))

    assert run(main()) == [item * item for item in range(300)]
    assert sorted(item for batch in recorder.batches for item in batch) == list(range(300))
    assert max(len(batch) for batch in recorder.batches) > 1


def test_a_bad_item_fails_alone(executor) -> None:
    recorder = Recorder(fail_on=3)
    batcher = MicroBatcher(recorder, executor, max_rows=256, max_wait=0.0)
    results = run(_gather_while_held(batcher, recorder, [0, 1, 2, 3, 4, 5]))
    assert results[:3] == [0, 1, 4] and results[4:] == [16, 25]
    assert isinstance(results[3], ValueError) and "bad item 3" in str(results[3])
    assert [1, 2, 3, 4, 5] in recorder.batches  # tried together first, then one by one
    assert [3] in recorder.batches and [4] in recorder.batches


def test_the_cap_bounds_the_rows_of_a_batch(executor) -> None:
    recorder = Recorder()
    batcher = MicroBatcher(recorder, executor, max_rows=6, max_wait=0.0)
    results = run(_gather_while_held(batcher, recorder, list(range(10)), rows=2))
    assert results == [item * item for item in range(10)]
    assert all(len(batch) * 2 <= 6 for batch in recorder.batches)
    assert max(len(batch) for batch in recorder.batches) == 3


def test_an_item_over_the_cap_runs_alone(executor) -> None:
    recorder = Recorder()
    batcher = MicroBatcher(recorder, executor, max_rows=4, max_wait=0.0)

    async def main() -> list[int]:
        recorder.release.clear()
        first = asyncio.create_task(batcher.submit(1, 1))
        await asyncio.to_thread(recorder.started.wait, HANG)
        big = asyncio.create_task(batcher.submit(2, 9))
        small = asyncio.create_task(batcher.submit(3, 1))
        await asyncio.sleep(0.01)
        recorder.release.set()
        return await asyncio.gather(first, big, small)

    assert run(main()) == [1, 4, 9]
    assert recorder.batches == [[1], [2], [3]]


def test_a_lone_client_never_waits_for_the_window(executor) -> None:
    """With a window far longer than the test's bound, a client alone must still be served at once."""
    recorder = Recorder()
    batcher = MicroBatcher(recorder, executor, max_rows=256, max_wait=3 * HANG)

    async def main() -> list[int]:
        return [await batcher.submit(item) for item in range(20)]

    assert run(main()) == [item * item for item in range(20)]
    assert recorder.batches == [[item] for item in range(20)]


def test_after_shared_batches_the_window_gathers_company_and_ends(executor) -> None:
    """Once batches were shared, the dispatcher waits (up to the window) for as many callers as last time,
    and starts as soon as they are there; when they never come, the window still ends."""
    recorder = Recorder()
    batcher = MicroBatcher(recorder, executor, max_rows=256, max_wait=0.2)

    async def main() -> tuple[list, int, int]:
        shared = await _gather_while_held(batcher, recorder, [1, 2, 3])  # batches [1] and [2, 3]
        staggered = []
        for item in (4, 5):
            staggered.append(asyncio.create_task(batcher.submit(item)))
            await asyncio.sleep(0.02)  # well inside the window
        lone = await batcher.submit(6)  # expected two, only one comes: the window runs out
        return [*shared, *await asyncio.gather(*staggered)], lone, len(recorder.batches)

    results, lone, batches = run(main())
    assert results == [1, 4, 9, 16, 25] and lone == 36
    assert recorder.batches[-2:] == [[4, 5], [6]]
    assert batches == 4


def test_batching_off_runs_every_item_alone(executor) -> None:
    recorder = Recorder()
    batcher = MicroBatcher(recorder, executor, max_rows=256, max_wait=0.0, enabled=False)

    async def main() -> list[int]:
        return await asyncio.gather(*(batcher.submit(item) for item in range(10)))

    assert run(main()) == [item * item for item in range(10)]
    assert all(len(batch) == 1 for batch in recorder.batches)


def test_observers_see_every_batch(executor) -> None:
    recorder = Recorder()
    batcher = MicroBatcher(recorder, executor, max_rows=256, max_wait=0.0)
    seen: list[tuple[int, int]] = []
    batcher.add_observer(lambda items, rows, seconds: seen.append((items, rows)))
    run(_gather_while_held(batcher, recorder, [1, 2, 3], rows=2))
    assert seen == [(1, 2), (2, 4)]


def test_shutdown_finishes_the_running_batch_and_refuses_the_queue(executor) -> None:
    recorder = Recorder()
    batcher = MicroBatcher(recorder, executor, max_rows=1, max_wait=0.0)

    async def main() -> tuple[list, BaseException | None]:
        recorder.release.clear()
        running = asyncio.create_task(batcher.submit(2))
        await asyncio.to_thread(recorder.started.wait, HANG)
        queued = [asyncio.create_task(batcher.submit(item)) for item in (3, 4)]
        await asyncio.sleep(0.01)
        closing = asyncio.create_task(batcher.close())
        await asyncio.sleep(0.01)
        recorder.release.set()
        await closing
        results = await asyncio.gather(running, *queued, return_exceptions=True)
        try:
            await batcher.submit(5)
        except BatcherClosedError as error:
            return results, error
        return results, None

    results, refused = run(main())
    assert results[0] == 4
    assert all(isinstance(result, BatcherClosedError) for result in results[1:])
    assert isinstance(refused, BatcherClosedError)
    assert recorder.batches == [[2]]


def test_a_caller_that_goes_away_does_not_disturb_the_others(executor) -> None:
    recorder = Recorder()
    batcher = MicroBatcher(recorder, executor, max_rows=256, max_wait=0.0)

    async def main() -> list:
        recorder.release.clear()
        first = asyncio.create_task(batcher.submit(1))
        await asyncio.to_thread(recorder.started.wait, HANG)
        leaving = asyncio.create_task(batcher.submit(2))
        staying = asyncio.create_task(batcher.submit(3))
        await asyncio.sleep(0.01)
        leaving.cancel()
        recorder.release.set()
        return await asyncio.gather(first, staying)

    assert run(main()) == [1, 9]
    assert recorder.batches == [[1], [3]]
