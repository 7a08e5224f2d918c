"""Integrated gradients: exact on functions whose integral the quadrature computes exactly."""

import pytest
import torch

from causalgear.steering.integrated_gradients import integrated_gradients, quadrature


@pytest.mark.parametrize("method", ["gausslegendre", "riemann_trapezoid"])
def test_linear_function_gets_the_analytic_attributions(method):
    torch.manual_seed(0)
    w, x, base = torch.randn(5, 4), torch.randn(5, 4), torch.randn(5, 4)

    def f(e):  # F(E) = <W, E> + 3: dF/dE = W everywhere
        return (e * w).sum((-1, -2)) + 3.0

    att = integrated_gradients(f, x, base, n_steps=4, method=method)
    torch.testing.assert_close(att.per_token, ((x - base) * w).sum(-1), rtol=1e-5, atol=1e-6)
    assert att.completeness_error < 1e-5
    assert att.f_input == pytest.approx(float(f(x[None])[0]), rel=1e-6)


def test_quadratic_function_is_exact_with_gauss_legendre():
    torch.manual_seed(1)
    a, x = torch.randn(6, 3), torch.randn(6, 3)

    def f(e):  # IG_t = sum_d a (x^2 - x'^2)
        return (a * e * e).sum((-1, -2))

    att = integrated_gradients(f, x, torch.zeros(3), n_steps=2)
    torch.testing.assert_close(att.per_token, (a * x * x).sum(-1), rtol=1e-5, atol=1e-6)


def test_internal_batches_change_nothing():
    torch.manual_seed(2)
    x = torch.randn(4, 3)

    def f(e):
        return torch.tanh(e).pow(3).sum((-1, -2))

    one = integrated_gradients(f, x, torch.zeros(3), n_steps=16, internal_batch_size=16)
    many = integrated_gradients(f, x, torch.zeros(3), n_steps=16, internal_batch_size=5)
    torch.testing.assert_close(one.per_token, many.per_token)


def test_completeness_error_is_measured_and_none_when_nothing_to_attribute():
    x = torch.ones(2, 2)
    att = integrated_gradients(lambda e: torch.tanh(4 * e).sum((-1, -2)), x, torch.zeros(2), n_steps=2,
                               method="riemann_trapezoid")
    assert att.completeness_error > 0.05  # two trapezoid points cannot integrate tanh' well
    flat = integrated_gradients(lambda e: e.sum((-1, -2)) * 0, x, torch.zeros(2), n_steps=4)
    assert flat.completeness_error is None


def test_quadrature_weights_integrate_one():
    for method in ("gausslegendre", "riemann_trapezoid"):
        alphas, weights = quadrature(10, method)
        assert float(weights.sum()) == pytest.approx(1.0)
        assert 0 <= float(alphas.min()) and float(alphas.max()) <= 1
    with pytest.raises(ValueError, match="ig_method='simpson'"):
        quadrature(4, "simpson")
