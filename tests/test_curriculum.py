"""optbook.experiments.ch08_7.curriculum: difficulty scores, class balancing, pacing and the batches drawn."""

import math

import pytest
import torch

from optbook.experiments.ch08_7.curriculum import (
    centroid_margin,
    class_balanced,
    curriculum_batches,
    linear_pacing,
)


def _toy():
    X = torch.tensor([[0.0, 0.0], [0.4, 0.0], [2.0, 0.0], [10.0, 0.0], [9.0, 0.0], [6.0, 0.0]],
                     dtype=torch.float64)
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    return X, y


def test_centroid_margin_by_hand():
    X, y = _toy()
    c0, c1 = X[:3].mean(0), X[3:].mean(0)  # (0.8, 0), (25/3, 0)
    want = []
    for x, label in zip(X, y, strict=True):
        own, other = (c0, c1) if label == 0 else (c1, c0)
        want.append((x - other).norm().item() - (x - own).norm().item())
    want = torch.tensor(want, dtype=torch.float64)
    torch.testing.assert_close(centroid_margin(X, y), want, rtol=1e-14, atol=1e-14)


def test_class_balanced_ranks_within_classes():
    scores = torch.tensor([5.0, 1.0, 3.0, -2.0, 0.0, -1.0])
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    torch.testing.assert_close(class_balanced(scores, y),
                               torch.tensor([1.0, 1 / 3, 2 / 3, 1 / 3, 1.0, 2 / 3], dtype=torch.float64))


def test_linear_pacing():
    assert linear_pacing(0, 100, 0.2, 0.5) == 0.2
    assert linear_pacing(25, 100, 0.2, 0.5) == pytest.approx(0.6)
    assert linear_pacing(50, 100, 0.2, 0.5) == 1.0 == linear_pacing(99, 100, 0.2, 0.5)
    assert linear_pacing(0, 100, 0.3, 0.0) == 1.0
    fr = [linear_pacing(t, 40, 0.1, 0.75) for t in range(40)]
    assert all(b >= a for a, b in zip(fr, fr[1:], strict=False))


def test_batches_come_from_the_easiest_pool_and_are_seeded():
    n = 100
    scores = torch.arange(n, dtype=torch.float64)  # example 99 is the easiest
    steps, bs = 20, 5
    a = list(curriculum_batches(scores, bs, steps, start_fraction=0.1, ramp_fraction=0.5,
                                generator=torch.Generator().manual_seed(0)))
    b = list(curriculum_batches(scores, bs, steps, start_fraction=0.1, ramp_fraction=0.5,
                                generator=torch.Generator().manual_seed(0)))
    assert len(a) == steps and all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    for t, idx in enumerate(a):
        pool = max(bs, math.ceil(linear_pacing(t, steps, 0.1, 0.5) * n - 1e-9))
        assert idx.numel() == bs and idx.unique().numel() == bs
        assert idx.min() >= n - pool  # only the `pool` highest scores
    assert a[0].min() >= 90 and min(i.min().item() for i in a[10:]) < 50


def test_start_fraction_one_is_uniform_sampling():
    scores = torch.zeros(10)
    seen = torch.cat(list(curriculum_batches(scores, 3, 200, start_fraction=1.0,
                                             generator=torch.Generator().manual_seed(1))))
    assert seen.unique().numel() == 10


def test_a_global_ranking_can_drop_classes_a_balanced_one_cannot():
    # class 0: a tight cluster (easy); class 1: spread out (every example harder)
    X = torch.tensor([[0.0, 0.0], [0.0, 0.1], [0.0, -0.1], [10.0, 5.0], [10.0, -5.0], [10.0, 4.0]])
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    s = centroid_margin(X, y)
    top_global = torch.sort(s, descending=True).indices[:2]
    top_balanced = torch.sort(class_balanced(s, y), descending=True, stable=True).indices[:2]
    assert y[top_balanced].unique().numel() == 2
    assert y[top_global].tolist() == [0, 0]


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: centroid_margin(torch.zeros(3), torch.zeros(3, dtype=torch.long)), ValueError, "X"),
        (lambda: centroid_margin(torch.zeros(3, 2), torch.zeros(3)), ValueError, "y"),
        (lambda: centroid_margin(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long)), ValueError,
         "two classes"),
        (lambda: class_balanced(torch.zeros(3), torch.zeros(2, dtype=torch.long)), ValueError, "y"),
        (lambda: linear_pacing(0, 10, 0.0), ValueError, "start_fraction"),
        (lambda: linear_pacing(0, 10, 0.5, 1.5), ValueError, "ramp_fraction"),
        (lambda: linear_pacing(-1, 10, 0.5), ValueError, "step"),
        (lambda: next(curriculum_batches(torch.zeros(4), 5, 1, generator=torch.Generator())), ValueError,
         "batch_size"),
        (lambda: next(curriculum_batches(torch.zeros(4), 2, 1, generator=None)), TypeError, "Generator"),
        (lambda: next(curriculum_batches(torch.zeros(4, 1), 2, 1, generator=torch.Generator())), ValueError,
         "scores"),
    ],
)
def test_bad_arguments_raise(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
