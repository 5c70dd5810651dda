"""The initializers the studies rely on."""

import numpy as np
import pytest
from bpttlab import kernels


@pytest.mark.parametrize("cell", kernels.CELLS)
def test_keys_shapes_dtype_and_seed(cell):
    p = kernels.init_params(cell, 3, 4, num_layers=2, bidirectional=True, seed=1, dtype=np.float32)
    shapes = kernels.expected_shapes(cell, 3, 4, 2, True)
    assert list(p) == list(shapes)
    assert all(p[k].shape == s and p[k].dtype == np.float32 for k, s in shapes.items())
    q = kernels.init_params(cell, 3, 4, num_layers=2, bidirectional=True, seed=1, dtype=np.float32)
    r = kernels.init_params(cell, 3, 4, num_layers=2, bidirectional=True, seed=2, dtype=np.float32)
    assert all(np.array_equal(p[k], q[k]) for k in p)
    assert not all(np.array_equal(p[k], r[k]) for k in p)


def test_gaussian_recurrent_weights_have_variance_g2_over_H():
    H, g = 400, 1.7
    w = kernels.init_params("rnn_tanh", 2, H, recurrent="gaussian", gain=g)["weight_hh_l0"]
    assert abs(w.var() * H / g**2 - 1) < 0.02  # 160k samples: std of the ratio ~0.0035
    assert abs(w.mean()) < 0.01


@pytest.mark.parametrize("cell", ["rnn_tanh", "lstm", "gru"])
def test_orthogonal_blocks_are_scaled_orthogonal(cell):
    H, g = 16, 0.9
    w = kernels.init_params(cell, 2, H, recurrent="orthogonal", gain=g)["weight_hh_l0"]
    for b in range(w.shape[0] // H):
        blk = w[b * H : (b + 1) * H]
        np.testing.assert_allclose(blk @ blk.T, g**2 * np.eye(H), atol=1e-12)


def test_identity_init_is_le_et_al_irnn():
    p = kernels.init_params("rnn_relu", 2, 8, recurrent="identity")
    np.testing.assert_array_equal(p["weight_hh_l0"], np.eye(8))
    assert not p["bias_ih_l0"].any() and not p["bias_hh_l0"].any()
    assert np.abs(p["weight_ih_l0"]).max() < 0.01


@pytest.mark.parametrize("cell,fblock", [("lstm", 1), ("lstm_peephole", 1), ("lstm_cifg", 0)])
def test_forget_bias(cell, fblock):
    H = 5
    p = kernels.init_params(cell, 2, H, num_layers=2, forget_bias=1.0)
    for layer in (0, 1):
        b_ih, b_hh = p[f"bias_ih_l{layer}"], p[f"bias_hh_l{layer}"]
        total = b_ih + b_hh
        np.testing.assert_array_equal(total[fblock * H : (fblock + 1) * H], 1.0)
        other = np.delete(total, np.s_[fblock * H : (fblock + 1) * H])
        assert np.abs(other).max() > 0  # the other gates keep their random bias
