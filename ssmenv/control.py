"""The control machine's pyinfra process: what keeps a run's fixed cost low.

A no-op redeploy is one remote command per host, so the control side's own work is most of its
time. Two parts of it are the garbage collector's, not the deploy's: the collections triggered
while the toolkit's modules import (pydantic's schemas, botocore's service models: hundreds of
thousands of objects, none of them garbage) and the collection at interpreter exit, which walks
every one of them again (about 0.1 s of each run, measured in ``bench/``). ``config.py`` calls
``tune_collector()`` before anything of the toolkit loads.
"""

from __future__ import annotations

import atexit
import gc

#: Allocations between two young-generation collections (CPython's default: 700). Imports make
#: millions of long-lived objects; a collection every 700 of them finds nothing to free.
YOUNG_THRESHOLD = 50_000


def tune_collector() -> None:
    """Collect the young generation less often, and keep what is alive at exit out of the last
    collections: everything is freed with the process anyway.

    What pyinfra imported so far is frozen (``gc.freeze``: never scanned again); so is, at exit,
    whatever the run made. Reference counting still frees what it can; only cycles wait, and
    only until the process ends.
    """
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    atexit.register(gc.freeze)

