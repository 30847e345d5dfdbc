"""Work queues: keys marked dirty by signals, reconciled one at a time per key.

``cosell.queue.protocol`` (keys, the queue protocol) is light; ``cosell.queue.embedded`` brings
the store. Import from the module you need, so a light import stays light.
"""
