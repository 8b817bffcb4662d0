"""The local stack's lock around moto (infra/local/stack.py LaneFirstLock): one request at a time,
re-entrant, and a waiting request of the high lane's path served before other waiting ones."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from infra.local.stack import LaneFirstLock, _is_urgent, _pool_tasks_inherit_urgency, urgent


def test_the_lock_is_reentrant_and_excludes_other_threads():
    # GIVEN a lock held twice by one thread
    lock = LaneFirstLock()
    lock.acquire()
    lock.acquire()
    got = threading.Event()

    def other() -> None:
        with lock:
            got.set()

    thread = threading.Thread(target=other)
    thread.start()
    # WHEN it releases once / THEN the other thread still waits; after the second release it gets it
    lock.release()
    assert not got.wait(0.1)
    lock.release()
    assert got.wait(2)
    thread.join()


def test_a_waiting_urgent_request_goes_before_requests_that_waited_longer():
    # GIVEN a held lock with three ordinary requests waiting, then one urgent request
    lock = LaneFirstLock()
    order: list[str] = []
    lock.acquire()

    def request(name: str, is_urgent: bool) -> None:
        with urgent() if is_urgent else _nothing():
            with lock:
                order.append(name)

    threads = [threading.Thread(target=request, args=(f"bulk{i}", False)) for i in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)
    alert = threading.Thread(target=request, args=("alert", True))
    alert.start()
    time.sleep(0.1)
    # WHEN the lock is released
    lock.release()
    for thread in [*threads, alert]:
        thread.join(2)
    # THEN the urgent one had it first, and every request had it once
    assert order[0] == "alert"
    assert sorted(order) == ["alert", "bulk0", "bulk1", "bulk2"]


def test_many_threads_never_hold_it_together():
    # GIVEN urgent and ordinary threads incrementing a shared counter in two steps under the lock
    lock = LaneFirstLock()
    state = {"n": 0, "inside": 0, "overlaps": 0}

    def work(is_urgent: bool) -> None:
        with urgent() if is_urgent else _nothing():
            for _ in range(200):
                with lock:
                    state["inside"] += 1
                    if state["inside"] > 1:
                        state["overlaps"] += 1
                    n = state["n"]
                    time.sleep(0)
                    state["n"] = n + 1
                    state["inside"] -= 1

    threads = [threading.Thread(target=work, args=(i % 3 == 0,)) for i in range(9)]
    # WHEN they all run
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN no update was lost and no two were inside at once
    assert state == {"n": 1800, "inside": 0, "overlaps": 0}


def test_pool_tasks_inherit_their_submitter_s_urgency():
    # GIVEN the local stack's pool patch
    _pool_tasks_inherit_urgency()
    # WHEN an urgent thread and an ordinary one submit tasks
    with ThreadPoolExecutor(2) as pool:
        with urgent():
            inside_urgent = pool.submit(_is_urgent).result()
        ordinary = pool.submit(_is_urgent).result()
    # THEN only the urgent one's task runs urgent
    assert inside_urgent is True
    assert ordinary is False


def _nothing():
    import contextlib

    return contextlib.nullcontext()


def test_when_urgent_work_runs_alone_others_wait_for_it_to_end_not_just_for_the_lock():
    # GIVEN a free lock set so that urgent work runs alone, and an urgent section open
    lock = LaneFirstLock()
    lock.urgent_runs_alone = True
    got = threading.Event()

    def ordinary() -> None:
        with lock:
            got.set()

    lock.urgent_section(True)
    thread = threading.Thread(target=ordinary)
    # WHEN an ordinary request comes while the section is open
    thread.start()
    # THEN it waits until the section ends, then goes
    assert not got.wait(0.2)
    lock.urgent_section(False)
    assert got.wait(2)
    thread.join()


def test_by_default_an_open_urgent_section_does_not_hold_others():
    # GIVEN a free lock (default) and an urgent section open
    lock = LaneFirstLock()
    lock.urgent_section(True)
    # WHEN an ordinary request comes / THEN it goes at once
    assert lock.acquire()
    lock.release()
    lock.urgent_section(False)
