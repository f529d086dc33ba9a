"""The exceptions of the dev harness, so that tests, benchmarks and the demo can tell them apart.

Everything the harness waits for or checks (an emulator answer, a daemon state, a process still
running) fails with a :class:`HarnessError` whose message says what was expected and what was seen
instead. It is an ``AssertionError`` on purpose: in a test it reads as a failed expectation, and
:func:`akod.devenv.polling.eventually` takes one raised by a probe as "not yet" and tries again,
so a probe can simply call a checking helper (``controller.one(...)``) until it holds.

Two kinds are special. :class:`TimedOut` ends a wait at its deadline. :class:`ProcessExited` says
a process the harness started is gone: waiting longer cannot help, so ``eventually`` lets it
through at once instead of polling a dead daemon until the deadline.
"""

from __future__ import annotations


class HarnessError(AssertionError):
    """Something the dev environment expected did not happen; the message says what."""


class TimedOut(HarnessError):
    """A condition polled for did not hold by its deadline."""


class ProcessExited(HarnessError):
    """A process the harness started (the daemon, the emulator) has exited."""
