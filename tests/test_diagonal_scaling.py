"""optbook.experiments.ch08_5.diagonal_scaling: the rotated quadratic against autograd and its
literal matrix form,
the unrotated case against landscapes.quadratic, and the Jacobi condition number against a
direct eigenvalue computation."""

import math

import numpy as np
import pytest
import torch

from optbook.experiments.ch08_5.diagonal_scaling import (
    jacobi_condition_number,
    rotated_quadratic,
    rotated_quadratic_hessian,
)
from optbook.problems import landscapes


@pytest.mark.parametrize("kappa, angle", [(100.0, 45.0), (10.0, 30.0), (1.0, 70.0), (50.0, -120.0)])
def test_value_and_gradient_against_matrix_form_and_autograd(kappa, angle):
    land = rotated_quadratic(kappa, angle)
    H = torch.tensor(rotated_quadratic_hessian(kappa, angle))
    pts = torch.randn(20, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 5
    pts.requires_grad_(True)
    f = land.f(pts)
    torch.testing.assert_close(f, 0.5 * torch.einsum("ni,ij,nj->n", pts, H, pts), rtol=1e-13, atol=1e-13)
    (grad,) = torch.autograd.grad(f.sum(), pts)
    torch.testing.assert_close(land.grad(pts.detach()), grad, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(land.grad(pts.detach()), pts.detach() @ H, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("kappa, angle", [(100.0, 45.0), (7.0, 10.0)])
def test_spectrum_start_and_minimum(kappa, angle):
    H = rotated_quadratic_hessian(kappa, angle)
    np.testing.assert_allclose(np.linalg.eigvalsh(H), [1 / kappa, 1.0], rtol=1e-13)
    land = rotated_quadratic(kappa, angle)
    assert land.lipschitz == 1.0 and land.minimiser == (0.0, 0.0)
    # The start is (u, v) = (-9, 2) in the rotated axes: same height for every angle.
    expected = 0.5 * (81 / kappa + 4)
    assert math.isclose(land.value_and_grad(*land.x0)[0], expected, rel_tol=1e-13)
    assert land.xlim[0] <= land.x0[0] <= land.xlim[1] and land.ylim[0] <= land.x0[1] <= land.ylim[1]


def test_no_rotation_is_the_books_quadratic():
    ours, ref = rotated_quadratic(100.0, 0.0), landscapes.quadratic(kappa=100.0)
    assert ours.x0 == ref.x0 and ours.xlim == ref.xlim and ours.ylim == ref.ylim
    X, Y, Z = ours.grid(30)
    np.testing.assert_allclose(Z, ref.grid(30)[2], rtol=1e-14, atol=1e-14)


def test_jacobi_condition_number():
    assert math.isclose(jacobi_condition_number(np.diag([1e-3, 1.0, 7.0])), 1.0, rel_tol=1e-12)
    # At 45° both diagonal entries are equal, so rescaling by them changes nothing.
    assert math.isclose(jacobi_condition_number(rotated_quadratic_hessian(100.0, 45.0)), 100.0, rel_tol=1e-10)
    # Against a direct computation for a random SPD matrix.
    A = np.random.default_rng(0).normal(size=(5, 5))
    H = A @ A.T + 0.1 * np.eye(5)
    D = np.diag(1 / np.sqrt(np.diag(H)))
    eig = np.linalg.eigvalsh(D @ H @ D)
    assert math.isclose(jacobi_condition_number(torch.tensor(H)), eig[-1] / eig[0], rel_tol=1e-10)
    # Between the two extremes, the rescaling helps partly.
    k = jacobi_condition_number(rotated_quadratic_hessian(100.0, 10.0))
    assert 1.0 < k < 100.0


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: rotated_quadratic(kappa=0.5), ValueError, "kappa must be >= 1.0, got 0.5"),
        (lambda: rotated_quadratic(angle=float("nan")), ValueError, "angle must be finite"),
        (lambda: rotated_quadratic(angle="45"), TypeError, "angle must be a real number"),
        (lambda: jacobi_condition_number(np.ones((2, 3))), ValueError, "square matrix, got shape"),
        (lambda: jacobi_condition_number(np.array([[1.0, 2.0], [0.0, 1.0]])), ValueError, "symmetric"),
        (lambda: jacobi_condition_number(np.diag([1.0, -1.0])), ValueError, "positive definite"),
        (lambda: jacobi_condition_number(np.array([[1.0, 2.0], [2.0, 1.0]])), ValueError,
         "smallest eigenvalue"),
        (lambda: jacobi_condition_number(np.array([[np.inf]])), ValueError, "finite"),
    ],
)
def test_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
