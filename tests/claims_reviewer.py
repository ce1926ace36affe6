"""One reviewer process for tests/test_claims_processes.py, run as a script:

    python tests/claims_reviewer.py URL QUEUE NAME BATCH LEASE_SECONDS [STALL_AFTER]

It connects, prints ``ready`` and waits for a line on stdin (so that all reviewers start at once),
then claims BATCH items at a time and finishes them, printing ``claimed ID...`` and ``finished
ID...`` lines, until every slot of the queue is done (``end``). With STALL_AFTER it finishes that
many batches, claims one more, prints ``holding ID...`` and sleeps: the test kills it there.
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta

from labeler.core.claims import TeamQueues

DEADLINE = 60.0  # seconds: a reviewer never outlives a failed test for long


def say(*words: str) -> None:
    print(" ".join(words), flush=True)


def main(url: str, queue: str, name: str, batch: int, lease_seconds: float, stall_after: int | None) -> int:
    lease = timedelta(seconds=lease_seconds)
    with TeamQueues(url) as q:
        say("ready")
        sys.stdin.readline()
        end = time.monotonic() + DEADLINE
        rounds = 0
        while time.monotonic() < end:
            got = q.claim(queue, name, batch, lease=lease)
            if got and stall_after is not None and rounds == stall_after:
                say("holding", *got)
                time.sleep(DEADLINE)
                return 1
            if not got:
                p = q.progress(queue)
                if p.done == p.total:
                    say("end")
                    return 0
                time.sleep(0.02)  # the rest is held by others, or by a lease not run out yet
                continue
            say("claimed", *got)
            say("finished", *q.finish(queue, name, got))
            rounds += 1
    say("timeout")
    return 1


if __name__ == "__main__":
    a = sys.argv[1:]
    sys.exit(main(a[0], a[1], a[2], int(a[3]), float(a[4]), int(a[5]) if len(a) > 5 else None))
