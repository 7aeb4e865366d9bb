"""One long-lived ``Replayer.workflow_replay_iterator`` on a background thread,
fed one history at a time, and the daemon executor its workflow threads run on.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading

import temporalio
import temporalio.worker

from .capture import _Collector


class _DaemonExecutor(concurrent.futures.Executor):
    """Runs workflow activations on daemon threads.

    The SDK runs each activation on its executor. A workflow deadlocked in C
    code never gives its thread back; with the stdlib ThreadPoolExecutor that
    thread would also block interpreter exit. Threads are created on demand
    and reused.
    """

    def __init__(self, gen: int) -> None:
        self._gen = gen
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        self._idle = 0
        self._lock = threading.Lock()
        self._n = 0

    def submit(self, fn, /, *args, **kwargs):
        fut: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            spawn = self._idle == 0
            if not spawn:
                self._idle -= 1
            else:
                self._n += 1
                n = self._n
        self._work.put((fut, fn, args, kwargs))
        if spawn:
            t = threading.Thread(target=self._loop, name=f"deja_workflow_{self._gen}_{n}", daemon=True)
            t.deja_gen = self._gen  # type: ignore[attr-defined]
            t.start()
        return fut

    def _loop(self) -> None:
        while True:
            fut, fn, args, kwargs = self._work.get()
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # noqa: BLE001 - forwarded to the awaiting task
                    fut.set_exception(exc)
            del fut, fn, args, kwargs
            with self._lock:
                self._idle += 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass


# --------------------------------------------------------------------------
# The replay pipeline (one Replayer iterator on a background thread)
# --------------------------------------------------------------------------


class _Request:
    __slots__ = ("history", "collector", "future")

    def __init__(self, history, collector: _Collector) -> None:
        self.history = history
        self.collector = collector
        self.future: concurrent.futures.Future = concurrent.futures.Future()


class _Pipeline:
    """Feeds histories one at a time to a long-lived workflow_replay_iterator."""

    def __init__(self, replayer: temporalio.worker.Replayer, recorder: "_Recorder", gen: int) -> None:
        self.replayer = replayer
        self.recorder = recorder
        self.gen = gen
        self.ready: concurrent.futures.Future = concurrent.futures.Future()
        self.dead = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._current: _Request | None = None
        self._thread = threading.Thread(target=self._main, name=f"deja_replayer_{gen}", daemon=True)
        self._thread.deja_gen = gen  # type: ignore[attr-defined]
        self._thread.start()

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._run())
        except BaseException as exc:  # noqa: BLE001
            self._fail(exc)
        finally:
            self.dead = True
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            except BaseException:
                pass
            loop.close()

    def _fail(self, exc: BaseException) -> None:
        self.dead = True
        if not self.ready.done():
            self.ready.set_exception(exc)
        cur = self._current
        if cur is not None and not cur.future.done():
            cur.future.set_exception(exc)

    async def _run(self) -> None:
        self._queue = asyncio.Queue()

        async def histories():
            while True:
                req = await self._queue.get()
                if req is None:
                    return
                self._current = req
                yield req.history

        async with self.replayer.workflow_replay_iterator(histories()) as results:
            self.ready.set_result(None)
            async for result in results:
                req = self._current
                self._current = None
                if req is not None and not req.future.done():
                    req.future.set_result(result)
        # iterator finished normally (close requested)

    def submit(self, req: _Request) -> None:
        assert self._loop is not None and self._queue is not None
        self._loop.call_soon_threadsafe(self._queue.put_nowait, req)

    def close(self, timeout: float = 10.0) -> None:
        if self.dead or self._loop is None or self._queue is None:
            return
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, None)
        except RuntimeError:
            return
        self._thread.join(timeout)
