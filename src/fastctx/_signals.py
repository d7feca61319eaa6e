"""Ctrl-C and SIGTERM for the command line, raised only where an exception is safe.

Python runs a signal handler between two bytecodes of the main thread, so an exception it
raises can land anywhere. Inside a threaded call that is harmful: between taking a lock
and entering its ``with`` block (``ThreadPoolExecutor.submit`` takes the executor's global
shutdown lock, which the interpreter takes again at exit: the process then hangs after its
output is cleaned up), or between two steps of a threaded render's bookkeeping (the render
stops its workers when an exception leaves its calling thread, but a range's state may be
half updated).

An import is no place for it either: a Cython module's initialisation registers its
memoryview types with ``collections.abc`` under a bare ``except: pass``, so an exception
raised there is dropped and the signal lost (numpy.random's first import, in ``fastctx
generate``, is one).

So the handler raises at once unless the main thread is inside that code (``parallel``,
``concurrent.futures``, ``threading``, the import system). There it only notes the signal
and asks for SIGALRM a few milliseconds later, and checks again then, until the main thread
is back in the caller's code (a threaded call of the command line handles one bounded
batch). A blocking read of stdin is outside that code, so it is interrupted at once as
before.
"""

from __future__ import annotations

import concurrent.futures
import signal
import sys
import threading

from . import parallel

RETRY_SECONDS = 0.005

# Modules where an exception from a handler may break a lock or a threaded call's state,
# or be swallowed (an import), by the name their code runs under.
_UNSAFE_MODULES = frozenset((parallel.__name__, threading.__name__, concurrent.futures.__name__,
                             "importlib._bootstrap", "importlib._bootstrap_external"))
_UNSAFE_PACKAGE = concurrent.futures.__name__ + "."
_HAND_OVER = parallel.hand_over.__code__


def unsafe(frame, stop=None) -> bool:
    """Whether ``frame`` or any frame that called it, up to ``stop`` (not included), runs
    code an exception must not cut. Frames called by ``parallel.hand_over`` (a threaded
    render handing its lines to a ``write``) are judged by themselves alone."""
    while frame is not None and frame is not stop:
        if frame.f_code is _HAND_OVER:
            return False
        name = frame.f_globals.get("__name__", "")
        if name in _UNSAFE_MODULES or name.startswith(_UNSAFE_PACKAGE):
            return True
        frame = frame.f_back
    return False


class raised_where_safe:
    """``with raised_where_safe({signal.SIGTERM: Exc, ...}):`` each signal raises its
    exception in the main thread, outside threaded-call code. Signals already ignored
    (SIGINT of a background job) or handled by the embedding program are left alone; off the
    main thread this does nothing (Python only sets handlers there)."""

    def __init__(self, exceptions: dict):
        self.exceptions = exceptions
        self.previous = {}
        self.pending = None  # the exception class noted while the main thread was unsafe
        self.entered = None  # the frame with the ``with``: it and its callers are not checked

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        self.entered = sys._getframe(1)
        for signum, exception in self.exceptions.items():
            current = signal.getsignal(signum)
            default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
            if current is default:
                self.previous[signum] = signal.signal(signum, self._handler(exception))
        if self.previous and hasattr(signal, "SIGALRM"):
            self.previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, self._retry)
        return self

    def __exit__(self, *exc):
        # A signal still pending here came during the last threaded step of a command that
        # has now finished its work; there is nothing left to stop.
        if signal.SIGALRM in self.previous:
            signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}
        self.entered = None
        return False

    def _handler(self, exception):
        def handler(signum, frame):
            self.pending = self.pending or exception
            self._retry(signum, frame)

        return handler

    def _retry(self, signum, frame):
        if self.pending is None:
            return
        if unsafe(frame, self.entered) and signal.SIGALRM in self.previous:
            signal.setitimer(signal.ITIMER_REAL, RETRY_SECONDS)
            return
        exception, self.pending = self.pending, None
        raise exception()
