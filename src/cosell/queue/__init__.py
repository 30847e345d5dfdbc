"""Work queues: keys marked dirty by signals, reconciled one at a time per key."""

from cosell.queue.embedded import EmbeddedQueue, QueueStats
from cosell.queue.protocol import WorkQueue, parse_key, queue_key

__all__ = ["EmbeddedQueue", "QueueStats", "WorkQueue", "parse_key", "queue_key"]
