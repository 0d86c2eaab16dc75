"""optbook.optim.averaging against torch.optim.swa_utils.AveragedModel (running mean and EMA) and
literal loops."""

import numpy as np
import pytest
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from optbook.optim.averaging import exponential_moving_average, polyak_average

torch.set_default_dtype(torch.float64)


def _path(T=40, n=3, seed=0):
    return np.random.default_rng(seed).standard_normal((T, n)).cumsum(0)


def _averaged_model_path(path, **kw):
    """Feed each iterate to AveragedModel (as a parameter of a tiny module); record its average."""
    p = torch.nn.Parameter(torch.tensor(path[0]))
    module = torch.nn.Module()
    module.p = p
    avg = AveragedModel(module, **kw)
    out = []
    for theta in path:
        with torch.no_grad():
            p.copy_(torch.tensor(theta))
        avg.update_parameters(module)
        out.append(avg.module.p.detach().numpy().copy())
    return np.array(out)


def test_polyak_average_is_averaged_models_running_mean():
    path = _path()
    np.testing.assert_allclose(polyak_average(path), _averaged_model_path(path), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("decay", [0.0, 0.5, 0.9, 0.999])
def test_ema_is_averaged_models_ema(decay):
    path = _path()
    want = _averaged_model_path(path, multi_avg_fn=get_ema_multi_avg_fn(decay))
    np.testing.assert_allclose(exponential_moving_average(path, decay), want, rtol=1e-12, atol=1e-12)


def test_literal_definitions_and_start():
    path = _path(T=10, n=2)
    np.testing.assert_allclose(polyak_average(path)[-1], path.mean(0), rtol=1e-14)
    tail = polyak_average(path, start=4)
    assert tail.shape == (6, 2)
    np.testing.assert_allclose(tail, [path[4 : 5 + k].mean(0) for k in range(6)], rtol=1e-14)
    ema = exponential_moving_average(path, 0.8)
    want = path[0].copy()
    for t in range(1, 10):
        want = 0.8 * want + 0.2 * path[t]
    np.testing.assert_allclose(ema[-1], want, rtol=1e-14)
    np.testing.assert_array_equal(exponential_moving_average(path, 0.0), path)
    # works along axis 0 of any shape, scalars per step included
    np.testing.assert_allclose(polyak_average(np.arange(4.0)), [0.0, 0.5, 1.0, 1.5])


def test_averaging_cancels_zero_mean_noise():
    rng = np.random.default_rng(1)
    noisy = 1.0 + rng.standard_normal(20_000)
    assert abs(polyak_average(noisy)[-1] - 1.0) < 4 / np.sqrt(20_000)
    assert abs(exponential_moving_average(noisy, 0.99)[-1] - 1.0) < 4 * np.sqrt(0.01 / 1.99)


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: polyak_average(np.zeros((0, 2))), ValueError, "at least one"),
        (lambda: polyak_average(3.0), ValueError, "at least one"),
        (lambda: polyak_average(np.zeros(3), start=3), ValueError, "start"),
        (lambda: exponential_moving_average(np.zeros(3), 1.0), ValueError, "decay"),
        (lambda: exponential_moving_average(np.zeros(3), -0.1), ValueError, "decay"),
    ],
)
def test_bad_arguments_raise(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
