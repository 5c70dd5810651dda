"""Sampling text from a trained character-level model."""

import numpy as np


def sample_text(net, flat, corpus, prime, length, temperature=1.0, rng=None):
    """Feed ``prime``, then draw ``length`` characters one at a time, carrying the state.

    Generation is sequential by nature: each step needs the character drawn at the step before,
    so this runs one kernel call per character (inference mode, no tape).
    """
    if not prime:
        raise ValueError("prime: got an empty string, expected at least one character to start from")
    if not temperature > 0:
        raise ValueError(f"temperature: got {temperature!r}, expected > 0")
    rng = rng or np.random.default_rng(0)
    views = flat.views
    rnn = {k: v for k, v in views.items() if not k.startswith("head_")}
    dtype = flat.data.dtype
    eye = np.eye(corpus.vocab, dtype=dtype)
    fw = net.forward(rnn, eye[corpus.encode(prime)][:, None, :], training=False)
    state, h = fw.state, fw.y[-1]
    out = []
    for _ in range(length):
        logits = (h @ views["head_weight"].T + views["head_bias"])[0] / temperature
        p = np.exp(logits - logits.max())
        c = int(rng.choice(corpus.vocab, p=p / p.sum()))
        out.append(c)
        fw = net.forward(rnn, eye[[c]][:, None, :], state, training=False)
        state, h = fw.state, fw.y[-1]
    return corpus.decode(out)
