"""The in-flight byte budget both transports share: request bytes held in memory at once.

Why one budget for gRPC and HTTP: it bounds the receiver's memory, which the two listeners share.
It refuses instead of waiting (the client retries after the hint), and it always admits a request
when nothing else is in flight, so a single request up to the size limit can never be refused
forever.
"""

from __future__ import annotations

import threading


class Budget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.used + n > self.limit and self.used > 0:
                return False
            self.used += n
            return True

    def give(self, n: int) -> None:
        if n:
            with self._lock:
                self.used -= n
