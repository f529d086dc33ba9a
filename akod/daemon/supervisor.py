"""The supervisor: every long-lived task of the daemon is owned here, none is fire-and-forget.

The daemon's tasks (watches, the engine's workers, the store's writer, the start-up sequence,
reloads, the controller heartbeat, the watchdog) all run inside one `asyncio.TaskGroup`, each
started with a policy that says what its end means:

- `RESTART`: it should run forever; if it raises (or returns), the error is logged and it is
  started again after a capped, jittered backoff (a watch loop with a bug must not take the
  daemon down, nor be silently gone);
- `CRITICAL`: the daemon cannot work without it (the store's writer, the engine); if it ends,
  the supervisor logs why and the whole group is cancelled, so the process exits non-zero and
  systemd restarts it; nothing waits forever on a dead task;
- `ONCE`: it may finish (the start-up sequence); if it raises, the daemon stops, with the exit
  code a `Fatal` carries (2 for a configuration the controller contradicts) or 1.

Stopping (SIGTERM) is the daemon's: it drains the engine, then `cancel()` ends every task; a
cancelled task is not a failure.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType

log = logging.getLogger("akod.daemon")
RESTART, CRITICAL, ONCE = "restart", "critical", "once"
EXIT_FATAL = 1


class Fatal(Exception):
    """The daemon must stop with `code` (1: fatal error, 2: configuration the other side contradicts)."""

    def __init__(self, message: str, *, code: int = EXIT_FATAL) -> None:
        super().__init__(message)
        self.code = code


class Supervisor:
    def __init__(self, *, restart_cap_s: float = 30.0) -> None:
        self._group: asyncio.TaskGroup | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._restart_cap_s = restart_cap_s
        self.restarts: dict[str, int] = {}
        self.fatal: Fatal | None = None
        self.stopping = False  # the daemon is stopping: a task that ends now is not a failure

    async def __aenter__(self) -> Supervisor:
        self._group = asyncio.TaskGroup()
        await self._group.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool | None:
        assert self._group is not None
        try:
            await self._group.__aexit__(exc_type, exc, tb)
            return None
        except BaseExceptionGroup as group:
            fatal = _first_fatal(group)
            if fatal is None:
                raise
            self.fatal = self.fatal or fatal
            return True

    def start(self, name: str, factory: Callable[[], Awaitable[None]], *, policy: str) -> None:
        assert self._group is not None, "start() inside `async with Supervisor()`"
        self._tasks[name] = self._group.create_task(self._guard(name, factory, policy), name=name)

    def running(self, name: str) -> bool:
        task = self._tasks.get(name)
        return task is not None and not task.done()

    def begin_stop(self) -> None:
        """The daemon is stopping (it drains the engine next): tasks may end without it being fatal."""
        self.stopping = True

    def cancel(self) -> None:
        self.stopping = True
        for task in self._tasks.values():
            task.cancel()

    async def shutdown(self, *, first: Sequence[str], last: Sequence[str], timeout_s: float = 5.0) -> None:
        """End the tasks in three waves: `first`, then all others, then `last`, each awaited.

        Order matters on the way out: the engine's handlers record their outcomes in `finally`
        blocks, so the store's writer must still be running while they end; it goes last.
        """
        self.stopping = True
        rest = [n for n in self._tasks if n not in first and n not in last]
        for wave in (list(first), rest, list(last)):
            tasks = [self._tasks[n] for n in wave if n in self._tasks and not self._tasks[n].done()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=timeout_s)

    async def _guard(self, name: str, factory: Callable[[], Awaitable[None]], policy: str) -> None:
        failures = 0
        while True:
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Fatal as exc:
                log.error("%s", exc)
                self.fatal = self.fatal or exc
                raise
            except Exception as exc:  # noqa: BLE001 - the policy decides; nothing dies unseen
                if self.stopping:
                    log.warning("task %s ended with an error while stopping: %s: %s", name, type(exc).__name__, exc)
                    return
                if policy != RESTART:
                    log.exception("task %s died; the daemon stops (exit %d) so that it is restarted", name, EXIT_FATAL)
                    fatal = Fatal(f"task {name} died: {type(exc).__name__}: {exc}")
                    self.fatal = self.fatal or fatal
                    raise fatal from exc
                failures += 1
                self.restarts[name] = self.restarts.get(name, 0) + 1
                delay = min(self._restart_cap_s, 0.5 * 2 ** min(failures, 8)) * random.uniform(0.5, 1.0)
                log.exception("task %s died (%d times); starting it again in %.1fs", name, failures, delay)
                await asyncio.sleep(delay)
                continue
            if policy == ONCE or self.stopping:
                return
            if policy == CRITICAL:
                fatal = Fatal(f"task {name} ended although the daemon needs it")
                log.error("%s; the daemon stops (exit %d)", fatal, EXIT_FATAL)
                self.fatal = self.fatal or fatal
                raise fatal
            log.error("task %s returned; starting it again", name)
            failures += 1
            await asyncio.sleep(min(self._restart_cap_s, 0.5 * 2 ** min(failures, 8)))


def _first_fatal(group: BaseExceptionGroup) -> Fatal | None:
    for exc in group.exceptions:
        if isinstance(exc, Fatal):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _first_fatal(exc)
            if found is not None:
                return found
    return None
