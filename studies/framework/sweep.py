"""Sweeps: a list of configurations, a pure compute function, a store, and a runner.

A study describes *what* to compute (configurations, each a JSON-able dict with a unique
``key``) and *how* to compute one (``compute(config) -> result dict``, a module-level
function that depends on nothing but its argument: its random numbers come from
``config["seed"]``). The sweep decides *which* configurations still need computing (those
without a complete, current file in the store) and hands them to a runner, saving each result
as soon as it arrives. Because configurations are independent and self-seeded, the order and
the place they run in do not change the numbers: a parallel runner only has to implement
``map`` (see :class:`SerialRunner`), and no study changes.
"""

import hashlib
import sys
import time
from collections import Counter

import numpy as np
from tqdm.auto import tqdm


def derive_seed(base_seed, key):
    """A 63-bit seed for one configuration: a function of the run's seed and the key only,
    so the numbers do not depend on which configurations ran before or beside it."""
    digest = hashlib.sha256(key.encode()).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    ss = np.random.SeedSequence([int(base_seed), *words])
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


class SerialRunner:
    """Runs configurations one after another in this process.

    The runner interface: ``map(fn, configs)`` yields ``(config, result)`` pairs as they
    finish, in any order. ``fn`` and the configurations are picklable (module-level function,
    plain dicts), so a process pool or a Dask cluster can run them.
    """

    name = "serial"

    def map(self, fn, configs):
        for config in configs:
            yield config, fn(config)


RUNNERS = {"serial": SerialRunner}  # studies.framework.runners adds "processes" (and Dask, by address)


class OnOneThread:
    """``compute`` with the kernels on one Numba thread, wherever the runner runs it.

    With more threads the kernels split the batch into chunks and add the chunks' partial sums
    (bias gradients, norms) in a different order, which moves the last bits; one thread makes a
    result the same on every machine and runner. A study that times the kernels (speed) sets
    its own thread count inside ``compute``. Picklable, like ``compute``.
    """

    def __init__(self, compute):
        self.compute = compute

    def __call__(self, config):
        import numba  # noqa: PLC0415

        before = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            return self.compute(config)
        finally:
            numba.set_num_threads(before)


def with_seeds(configs, base_seed):
    """Copies of the configurations with ``seed`` set from the run's seed and their key."""
    out, seen = [], set()
    for c in configs:
        key = c["key"]
        if key in seen:
            raise ValueError(f"configuration key {key!r} is not unique")
        seen.add(key)
        out.append({**c, "seed": derive_seed(base_seed, key)})
    return out


def run_sweep(configs, compute, store, runner=None, *, progress=True, desc=None, fresh=False, code="",
              same_code=False, stats=None, poll=0.5):
    """Compute every configuration that the store does not already hold; return all results.

    Returns a list of (config, result) in the order of ``configs``. Each result is saved the
    moment it is computed, so an interrupted sweep (an exception, Ctrl-C, a killed process)
    keeps everything finished before it, and the next call computes only the rest.
    ``code`` is the fingerprint of the computing source, saved with each result; ``same_code``
    reuses only results saved with this fingerprint; ``fresh`` reuses nothing. ``stats``, a dict,
    receives the counts computed (by this run) / loaded (from the store, including results another
    run computed concurrently) and {code fingerprint: count} of the results returned. ``poll``:
    seconds between looks at configurations another run is computing.
    """
    runner = runner or SerialRunner()
    results, codes = {}, {}
    # With ``fresh``, the files as they were when this run started: only a file replaced since (by a
    # concurrent run: every save is a new inode) may be used.
    before = {c["key"]: _identity(store.path(c["key"])) for c in configs} if fresh else {}

    def take(c, ours=False):
        """Load ``c``'s stored result if it is usable; True when it was. With ``fresh``, only a
        result written since this run started is, unless ``ours``."""
        if fresh and not ours and _identity(store.path(c["key"])) == before[c["key"]]:
            return False
        r, stored = store.read(c["key"], c)
        if r is not None and (not same_code or stored == code):
            results[c["key"]], codes[c["key"]] = r, stored
            return True
        return False

    for c in configs:
        take(c)
    todo = [c for c in configs if c["key"] not in results]
    # Concurrent runs into one store share the work: a configuration is computed by the run that
    # claims it (a lock held until its result is saved); another run skips it and picks the result
    # up when it appears. Claims are taken one by one as the runner asks for work (runners consume
    # ``configs`` lazily), so two runs started together split the sweep rather than one taking all.
    claims, skipped, computed = {}, [], []

    def claimed(cs):
        for c in cs:
            claim = store.claim(c["key"])
            if claim is None:
                skipped.append(c)
                continue
            if take(c):  # finished by another run meanwhile
                claim.release()
                bar.update(1)
                continue
            claims[c["key"]] = claim
            yield c

    with tqdm(total=len(configs), initial=len(results), desc=desc, file=sys.stderr, disable=not progress,
              unit="config", dynamic_ncols=True) as bar:
        try:
            pending = todo
            while pending:
                for config, result in runner.map(OnOneThread(compute), claimed(pending)):
                    store.save(config["key"], config, result, code=code)
                    claims.pop(config["key"]).release()
                    computed.append(config["key"])
                    # Read back rather than keep: a fresh and a resumed run then hand the report
                    # exactly the same objects (scalars as stored), so they write the same bytes.
                    take(config, ours=True)
                    bar.update(1)
                    bar.set_postfix_str(config["key"], refresh=False)
                # What other runs hold: wait for their results; claim (and compute) what a run that
                # died or stopped left behind.
                pending, skipped[:] = _wait_for_others(skipped, store, take, bar, poll), []
        finally:
            for claim in claims.values():
                claim.release()
    if stats is not None:
        stats.update(computed=len(computed), loaded=len(configs) - len(computed),
                     codes=dict(sorted(Counter(codes.values()).items())))
    return [(c, results[c["key"]]) for c in configs]


def _identity(path):
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _wait_for_others(skipped, store, take, bar, poll):
    """Wait until each configuration another run holds is either stored (taken) or free again;
    returns those that came free without a usable result, for this run to compute."""
    left, free = list(skipped), []
    while left:
        still = []
        for c in left:
            if take(c):
                bar.update(1)
                continue
            claim = store.claim(c["key"])
            if claim is None:
                still.append(c)
                continue
            claim.release()  # free: the holder finished (result read above or just now) or died
            if take(c):
                bar.update(1)
            else:
                free.append(c)
        left = still
        if left:
            time.sleep(poll)
    return free
