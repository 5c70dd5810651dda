"""Optimizers and gradient clipping on one flat parameter vector, jitted.

Parameters live in a single contiguous vector with named views (:class:`FlatParams`), so the
global norm, clipping and every optimizer update are one pass over memory. Update rules follow
PyTorch's (torch.optim.SGD with momentum, RMSprop, Adam) so results can be compared.
"""

import math

import numpy as np
from bpttlab.kernels.cpu._jit import jit


class FlatParams:
    """Named arrays that are views into one flat vector."""

    def __init__(self, arrays, dtype):
        self.shapes = {k: np.shape(v) for k, v in arrays.items()}
        sizes = [int(np.prod(s)) for s in self.shapes.values()]
        self.data = np.empty(sum(sizes), dtype)
        self.views, o = {}, 0
        for (k, shape), n in zip(self.shapes.items(), sizes, strict=True):
            self.views[k] = self.data[o : o + n].reshape(shape)
            self.views[k][...] = arrays[k]
            o += n

    def flatten(self, grads, out):
        """Write a dict of gradients, keyed like the parameters, into the flat vector out."""
        o = 0
        for k, shape in self.shapes.items():
            n = int(np.prod(shape))
            out[o : o + n] = grads[k].reshape(-1)
            o += n
        return out


@jit
def global_norm(g):
    s = 0.0
    for v in g:
        s += float(v) * float(v)
    return math.sqrt(s)


@jit
def clip_by_norm(g, threshold, norm):
    """Pascanu et al. 2013, Algorithm 1: rescale g to the threshold when its norm exceeds it."""
    if norm > threshold:
        f = threshold / norm
        for i in range(g.size):
            g[i] *= f
        return True
    return False


@jit
def clip_by_value(g, threshold):
    clipped = False
    for i in range(g.size):
        if g[i] > threshold:
            g[i] = threshold
            clipped = True
        elif g[i] < -threshold:
            g[i] = -threshold
            clipped = True
    return clipped


@jit
def sgd_step(theta, g, buf, lr, momentum):
    for i in range(theta.size):
        buf[i] = momentum * buf[i] + g[i]
        theta[i] -= lr * buf[i]


@jit
def rmsprop_step(theta, g, sq, lr, alpha, eps):
    for i in range(theta.size):
        sq[i] = alpha * sq[i] + (1 - alpha) * g[i] * g[i]
        theta[i] -= lr * g[i] / (math.sqrt(sq[i]) + eps)


@jit
def adam_step(theta, g, m, v, t, lr, beta1, beta2, eps):
    c1 = 1 - beta1**t
    c2 = 1 - beta2**t
    for i in range(theta.size):
        m[i] = beta1 * m[i] + (1 - beta1) * g[i]
        v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
        theta[i] -= lr * (m[i] / c1) / (math.sqrt(v[i] / c2) + eps)


OPTIMIZERS = ("sgd", "rmsprop", "adam")


class Optimizer:
    """One of SGD with momentum, RMSProp or Adam over a flat vector."""

    def __init__(self, name, size, dtype, lr, momentum=0.9, alpha=0.99, betas=(0.9, 0.999), eps=1e-8):
        if name not in OPTIMIZERS:
            raise ValueError(f"optimizer: got {name!r}, expected one of {', '.join(OPTIMIZERS)}")
        if not lr > 0:
            raise ValueError(f"lr: got {lr!r}, expected a positive learning rate")
        self.name, self.lr, self.momentum, self.alpha, self.betas, self.eps = name, lr, momentum, alpha, betas, eps
        self.t = 0
        self.s1 = np.zeros(size, dtype)
        self.s2 = np.zeros(size, dtype) if name == "adam" else None

    def step(self, theta, g):
        self.t += 1
        if self.name == "sgd":
            sgd_step(theta, g, self.s1, self.lr, self.momentum)
        elif self.name == "rmsprop":
            rmsprop_step(theta, g, self.s1, self.lr, self.alpha, self.eps)
        else:
            adam_step(theta, g, self.s1, self.s2, self.t, self.lr, self.betas[0], self.betas[1], self.eps)
