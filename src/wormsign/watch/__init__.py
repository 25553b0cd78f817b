"""Watching logs as they are written: ``wormsign watch``.

- ``generation`` telling generations of a log apart (head fingerprints, rotated names)
- ``follower``   ``tail -F`` semantics: growth, rename and copy-truncate rotation, new files
- ``detector``   chunks of complete lines through the detection layer (one adapter)
- ``live``       attribution while the log is written (held Nimda candidates)
- ``checkpoint`` alerts and read offsets committed together (the Protocol, in memory)
- ``runner``     the loop: follow, scan, attribute, commit; file-system events wake it
- ``view``       the live terminal view (rich) and plain one-line-per-event output
"""

from wormsign.watch.checkpoint import Checkpoint, MemoryCheckpoint
from wormsign.watch.follower import Chunk, Follower
from wormsign.watch.runner import Watcher, WatchOptions

__all__ = ["Checkpoint", "Chunk", "Follower", "MemoryCheckpoint", "WatchOptions", "Watcher"]
