"""optbook.experiments.ch11_5.debugging against brute force, scipy and scikit-learn; optbook.viz.debugging's
drawing; the diagnosis rules as a table."""

import math
import re

import numpy as np
import pytest
import scipy.stats
import torch
from matplotlib.figure import Figure
from sklearn.dummy import DummyClassifier
from sklearn.metrics import log_loss

from optbook.experiments.ch11_5.debugging import chance_levels, confident_mistakes, diagnose
from optbook.viz.debugging import draw_digits

torch.set_default_dtype(torch.float64)


def _logits(n=200, k=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    z = 3 * torch.randn(n, k, generator=gen)
    y = torch.randint(0, k, (n,), generator=gen)
    return z, y


# ---------------------------------------------------------------- confident mistakes


def test_confident_mistakes_equal_brute_force():
    z, y = _logits()
    m = confident_mistakes(z, y)
    # brute force, one example at a time, with numpy
    p = np.exp(z.numpy() - z.numpy().max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    rows = [(-p[i].max(), i) for i in range(len(y)) if p[i].argmax() != y[i]]
    rows.sort()  # most confident first; ties by index, like a stable sort
    assert m.n_wrong == len(rows) == len(m)
    assert m.index.tolist() == [i for _, i in rows]
    np.testing.assert_allclose(m.confidence.numpy(), [-c for c, _ in rows], rtol=1e-12)
    np.testing.assert_array_equal(m.predicted.numpy(), p[m.index.numpy()].argmax(1))
    np.testing.assert_array_equal(m.target.numpy(), y[m.index].numpy())
    np.testing.assert_allclose(
        m.target_probability.numpy(), p[m.index.numpy(), y[m.index].numpy()], rtol=1e-12
    )
    assert (m.predicted != m.target).all()
    assert torch.all(m.confidence[:-1] >= m.confidence[1:])


def test_confident_mistakes_top_k_ties_and_float32():
    z = torch.tensor([[0.0, 2.0], [0.0, 2.0], [3.0, 0.0], [0.0, 1.0]], dtype=torch.float32)
    y = torch.tensor([0, 0, 1, 1])
    m = confident_mistakes(z, y)
    assert m.index.tolist() == [2, 0, 1]  # example 3 is right; 0 and 1 tie and keep order
    assert m.n_wrong == 3
    top = confident_mistakes(z, y, k=2)
    assert top.index.tolist() == [2, 0] and top.n_wrong == 3 and len(top) == 2
    assert confident_mistakes(z, y, k=0).index.numel() == 0
    none = confident_mistakes(z, torch.tensor([1, 1, 0, 1]))
    assert len(none) == 0 and none.n_wrong == 0
    assert math.isclose(float(m.confidence[0]), 1 / (1 + math.exp(-3)), rel_tol=1e-12)


def test_confident_mistakes_nan_rows_count_as_mistakes_and_come_last():
    z = torch.tensor([[0.0, 5.0], [math.nan, 0.0], [1.0, 0.0]])
    m = confident_mistakes(z, torch.tensor([0, 0, 1]))
    assert m.index.tolist() == [0, 2, 1] and m.n_wrong == 3


# ---------------------------------------------------------------- chance levels


def test_chance_levels_against_sklearn_and_scipy():
    y = torch.tensor([0] * 50 + [1] * 30 + [2] * 15 + [4] * 5)  # class 3 never occurs
    c = chance_levels(y, 5)
    assert c.uniform_loss == math.log(5)
    pi = np.bincount(y.numpy(), minlength=5) / len(y)
    assert math.isclose(c.prior_loss, scipy.stats.entropy(pi), rel_tol=1e-12)
    X = np.zeros((len(y), 1))
    prior = DummyClassifier(strategy="prior").fit(X, y.numpy())
    probs = np.zeros((len(y), 5))
    probs[:, prior.classes_] = prior.predict_proba(X)
    assert math.isclose(c.prior_loss, log_loss(y.numpy(), probs, labels=range(5)), rel_tol=1e-10)
    uniform = np.full((len(y), 5), 0.2)
    assert math.isclose(c.uniform_loss, log_loss(y.numpy(), uniform, labels=range(5)), rel_tol=1e-12)
    majority = DummyClassifier(strategy="most_frequent").fit(X, y.numpy())
    assert math.isclose(c.majority_error, 1 - majority.score(X, y.numpy()), rel_tol=1e-12)
    assert c.uniform_error == 0.8
    # balanced classes: the two losses agree
    b = chance_levels(torch.arange(10).repeat(3), 10)
    assert math.isclose(b.prior_loss, math.log(10), rel_tol=1e-12) and b.majority_error == 0.9


# ---------------------------------------------------------------- diagnosis


KW = dict(chance_error=0.9, target_error=0.02, max_gap=0.05)
DIAGNOSES = [  # (train error, test error, verdict)
    (0.001, 0.03, "healthy"),
    (0.15, 0.16, "underfitting (or a bug)"),
    (0.0, 0.18, "overfitting (or an evaluation bug)"),
    (0.002, 0.89, "evaluation bug"),
    (0.80, 0.90, "not learning: suspect a bug"),
    (0.90, 0.10, "not learning: suspect a bug"),  # rule 1 comes first
    (0.02, 0.07, "healthy"),  # both limits are inclusive
    (0.0, 0.67, "overfitting (or an evaluation bug)"),  # just below 0.9 - 0.88 / 4 = 0.68
]


@pytest.mark.parametrize("train,test,verdict", DIAGNOSES)
def test_diagnose_table(train, test, verdict):
    d = diagnose(train, test, **KW)
    assert d.verdict == verdict
    assert isinstance(d.next_step, str) and d.next_step


def test_diagnose_margin_is_a_quarter_of_the_way_from_chance():
    assert diagnose(0.0, 0.6801, **KW).verdict == "evaluation bug"
    assert diagnose(0.6801, 0.7, **KW).verdict == "not learning: suspect a bug"
    assert diagnose(0.6799, 0.5, **KW).verdict == "underfitting (or a bug)"


# ---------------------------------------------------------------- drawing


def test_draw_digits():
    fig = Figure()
    axes = fig.subplots(2, 3)
    images = torch.arange(3 * 64, dtype=torch.float32).reshape(3, 64) / 100
    drawn = draw_digits(axes, images, titles=["a", "b", "c"], colors=["red", "k", "k"])
    assert len(drawn) == 3
    np.testing.assert_array_equal(drawn[1].get_array(), images[1].reshape(8, 8).numpy())
    assert drawn[0].get_clim() == (0.0, pytest.approx(images.max().item()))  # one shared scale
    flat = axes.ravel()
    assert flat[0].get_title() == "a" and flat[0].title.get_color() == "red"
    assert not flat[3].axison and not flat[5].axison  # left-over axes switched off
    assert draw_digits(flat[:1], np.zeros((1, 16)), shape=(4, 4), vmax=2.0)[0].get_clim() == (0, 2)


# ---------------------------------------------------------------- errors


def _z():
    return torch.zeros(4, 3)


BAD = [
    (lambda: confident_mistakes(np.zeros((4, 3)), torch.zeros(4, dtype=torch.long)), ValueError,
     "logits must be a tensor of shape (n, K) with K >= 2, got ndarray"),
    (lambda: confident_mistakes(torch.zeros(4, 1), torch.zeros(4, dtype=torch.long)), ValueError,
     "got (4, 1)"),
    (lambda: confident_mistakes(torch.zeros(4, 3, dtype=torch.long), torch.zeros(4, dtype=torch.long)),
     TypeError, "logits must be floating point, got torch.int64"),
    (lambda: confident_mistakes(_z(), torch.zeros(5, dtype=torch.long)), ValueError,
     "targets must be a tensor of shape (4,) matching logits, got (5,)"),
    (lambda: confident_mistakes(_z(), torch.zeros(4)), TypeError,
     "targets must hold integer class indices, got torch.float64"),
    (lambda: confident_mistakes(_z(), torch.tensor([0, 1, 2, 3])), ValueError,
     "targets must lie in 0..2, got values from 0 to 3"),
    (lambda: confident_mistakes(_z(), torch.zeros(4, dtype=torch.long), k=-1), ValueError,
     "k must be >= 0, got -1"),
    (lambda: chance_levels(torch.tensor([0, 1]), 1), ValueError, "n_classes must be >= 2, got 1"),
    (lambda: chance_levels(torch.tensor([], dtype=torch.long), 3), ValueError,
     "targets must be a non-empty 1-D tensor"),
    (lambda: chance_levels(torch.tensor([0, 5]), 3), ValueError,
     "targets must lie in 0..2, got values from 0 to 5"),
    (lambda: chance_levels(torch.tensor([0.0, 1.0]), 3), TypeError, "integer class indices"),
    (lambda: diagnose(1.5, 0.1, **KW), ValueError, "train_error must be <= 1.0, got 1.5"),
    (lambda: diagnose(0.1, math.nan, **KW), ValueError, "test_error must be finite, got nan"),
    (lambda: diagnose(0.1, 0.1, chance_error=0.0, target_error=0.0, max_gap=0.1), ValueError,
     "chance_error must be > 0.0, got 0.0"),
    (lambda: diagnose(0.1, 0.1, chance_error=0.5, target_error=0.6, max_gap=0.1), ValueError,
     "target_error must be below chance_error, got 0.6 >= 0.5"),
    (lambda: draw_digits(Figure().subplots(1, 2), np.zeros((3, 64))), ValueError,
     "need at least one axes per image: 3 images, 2 axes"),
    (lambda: draw_digits(Figure().subplots(1, 2), np.zeros((2, 63))), ValueError,
     "images must have shape (n, 64) for shape=(8, 8), got (2, 63)"),
    (lambda: draw_digits(Figure().subplots(1, 2), np.zeros((2, 64)), titles=["a"]), ValueError,
     "titles must have one entry per image (2), got 1"),
]


@pytest.mark.parametrize("call,exc,match", BAD)
def test_bad_arguments_raise(call, exc, match):
    with pytest.raises(exc, match=re.escape(match)):
        call()
