"""What truncation saves: time per update and tape memory of streaming TBPTT(k, k) against full BPTT."""

import time

import numpy as np
from bpttlab import kernels

from ..science import config_rng

ROUNDS = 5


def streaming_update(net, params, x, dy, k):
    """Streaming TBPTT(k, k): forward and backward k steps at a time, carrying the state.

    Only a k-step tape is alive at any time; the gradients are summed over chunks. Equals
    Network.backward_truncated(tape, dy, k, k) on a full tape (see tests/test_tbptt_study.py).
    """
    T = x.shape[0]
    state, total, tape_bytes = None, None, 0
    for s in range(0, T, k):
        fw = net.forward(params, x[s : s + k], state)
        g = net.backward(fw.tape, dy[s : s + k])
        tape_bytes = max(tape_bytes, fw.tape.nbytes)
        state = fw.state
        total = g.params if total is None else {n: total[n] + g.params[n] for n in total}
    return total, tape_bytes


def compute_cost(c):
    rng = config_rng(c)
    T, H, B = c["T"], c["H"], c["B"]
    net = kernels.Network(c["cell"], H, H, backend=c.get("backend", "cpu"))
    params = net.init_params(seed=1, dtype=np.float32)
    x = rng.standard_normal((T, B, H)).astype(np.float32)
    dy = rng.standard_normal((T, B, H)).astype(np.float32)
    ks = list(c["k"])
    for k in ks:
        streaming_update(net, params, x, dy, k)  # compile and warm up
    times = {k: [] for k in ks}
    # Interleaved rounds: a slow spell of the machine hits every k alike.
    for _ in range(ROUNDS):
        for k in ks:
            t0 = time.perf_counter()
            streaming_update(net, params, x, dy, k)
            times[k].append(time.perf_counter() - t0)
    tape = [streaming_update(net, params, x, dy, k)[1] for k in ks]
    return {"k": np.array(ks), "seconds": np.array([np.median(times[k]) for k in ks]), "tape_bytes": np.array(tape)}
