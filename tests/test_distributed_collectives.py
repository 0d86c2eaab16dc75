"""The ring all-reduce cost model against a literal ring, and the all-reduce timer (2 processes)."""

import numpy as np
import pytest

from optbook.distributed import ring_allreduce_bytes, time_allreduce


def literal_ring_allreduce(chunks_per_worker):
    """Reduce-scatter then all-gather around a ring, as in Patarasuk & Yuan (2009).

    ``chunks_per_worker[r][c]`` is worker r's chunk c (p chunks each). Returns every worker's
    final chunks and the number of elements each worker sent.
    """
    p = len(chunks_per_worker)
    data = [[np.array(c, dtype=np.float64) for c in w] for w in chunks_per_worker]
    sent = [0] * p
    for s in range(p - 1):  # reduce-scatter: after p-1 rounds worker r owns the sum of chunk r+1
        msgs = [(r, (r - s) % p, data[r][(r - s) % p].copy()) for r in range(p)]
        for r, c, m in msgs:
            data[(r + 1) % p][c] += m
            sent[r] += m.size
    for s in range(p - 1):  # all-gather: pass the finished chunks around
        msgs = [(r, (r + 1 - s) % p, data[r][(r + 1 - s) % p].copy()) for r in range(p)]
        for r, c, m in msgs:
            data[(r + 1) % p][c] = m
            sent[r] += m.size
    return data, sent


@pytest.mark.parametrize("p, n", [(2, 6), (3, 12), (4, 8), (5, 20)])
def test_cost_model_counts_what_a_ring_sends(p, n):
    rng = np.random.default_rng(p)
    x = rng.standard_normal((p, n))
    chunks = [np.split(x[r], p) for r in range(p)]
    data, sent = literal_ring_allreduce(chunks)
    for r in range(p):  # a correct all-reduce: everyone ends with the sum
        np.testing.assert_allclose(np.concatenate(data[r]), x.sum(0), rtol=1e-12)
    expected = ring_allreduce_bytes(n, p, bytes_per_element=1)
    assert sent == [expected] * p
    np.testing.assert_allclose(ring_allreduce_bytes([n, 2 * n], p, 4), [4 * expected, 8 * expected])
    assert ring_allreduce_bytes(n, 1) == 0.0


def test_cost_model_validation():
    with pytest.raises(ValueError, match="world_size must be >= 1, got 0"):
        ring_allreduce_bytes(10, 0)
    with pytest.raises(ValueError, match="numel must be >= 0"):
        ring_allreduce_bytes([-1], 2)


def test_time_allreduce_measures_every_size_on_two_processes():
    t = time_allreduce([10, 10_000], world_size=2, repeats=3)
    assert t.shape == (2, 3)
    assert np.isfinite(t).all() and (t > 0).all()


def test_time_allreduce_validation():
    with pytest.raises(ValueError, match="world_size must be >= 2 to all-reduce"):
        time_allreduce([10], world_size=1)
    with pytest.raises(ValueError, match="numels must list at least one size"):
        time_allreduce([])
    with pytest.raises(ValueError, match=r"numels\[1\] must be >= 1, got 0"):
        time_allreduce([5, 0])
