"""What a slow step (starting a server, building or downloading Weaviate) is doing, while it does it.

On a terminal a step is one line, redrawn in place with the seconds it has taken so far (and how
much it has downloaded); anywhere else (a log file, CI, a pipe) it is two plain lines, one when the
step starts and one when it ends, so a log never fills with redraws. The waiting loops call
:meth:`Progress.tick`; no thread is started for it.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]

_REDRAW_EVERY = 0.2  # seconds between redraws on a terminal


class Progress:
    """Progress lines on ``stream`` (stderr by default), live when it is a terminal."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._quiet = quiet  # says nothing (a caller that passed no progress)
        try:
            self._live = not quiet and self._stream.isatty()
        except (AttributeError, ValueError):  # a closed or odd stream
            self._live = False
        self._what = ""
        self._started = self._drawn = 0.0

    def begin(self, what: str) -> None:
        """A step starts: ``what`` says what it does (``"starting the local weaviate server"``)."""
        self._what, self._started, self._drawn = what, time.monotonic(), 0.0
        if self._live:
            self.tick()
        else:
            self._write(f"agentmem: {what} ...\n")

    def tick(self, detail: str = "") -> None:
        """Redraw the line (on a terminal, at most every 0.2 s); ``detail`` is e.g. ``"12 MB"``."""
        if not self._live:
            return
        now = time.monotonic()
        if now - self._drawn < _REDRAW_EVERY:
            return
        self._drawn = now
        extra = f", {detail}" if detail else ""
        self._write(f"\r\x1b[Kagentmem: {self._what} ... {now - self._started:.0f} s{extra}")

    def end(self, outcome: str) -> None:
        """The step ended: ``outcome`` says how (``"weaviate answers"``); the time is added."""
        took = time.monotonic() - self._started
        prefix = "\r\x1b[K" if self._live else ""
        self._write(f"{prefix}agentmem: {outcome} after {took:.1f} s\n")

    def _write(self, text: str) -> None:
        if self._quiet:
            return
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # stderr closed or gone: progress is never worth a failure
            pass
