"""When a follower saves its checkpoint (a view with its state, a reactor with its own): every
`every` events it moved, or `interval_s` after it moved. Shared by views and reactors, which
differ in what they save, not in when."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class SaveClock:
    every: int
    interval_s: float
    saved_checkpoint: int = 0
    saved_at: float = field(default_factory=time.monotonic)

    def unsaved(self, checkpoint: int) -> int:
        """How far `checkpoint` has moved past the last save."""
        return checkpoint - self.saved_checkpoint

    def since_save_s(self) -> float:
        return time.monotonic() - self.saved_at

    def due(self, checkpoint: int) -> bool:
        moved = self.unsaved(checkpoint)
        return moved > 0 and (moved >= self.every or self.since_save_s() >= self.interval_s)

    def saved(self, checkpoint: int) -> None:
        self.saved_checkpoint, self.saved_at = checkpoint, time.monotonic()

    def tried(self) -> None:
        """A save failed: the next try waits the interval."""
        self.saved_at = time.monotonic()
