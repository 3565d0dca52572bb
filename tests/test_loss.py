import math

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Bernoulli, Normal, kl_divergence

from model.loss import cvae_loss, log_normal, loss_terms, reconstruction_loss
from model.loss import kl_divergence as closed_form_kl


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.floats(0.01, 5.0))
def test_kl_matches_torch_distributions(seed: int, scale: float) -> None:
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(8, 6, generator=g, dtype=torch.float64) * scale
    logvar = torch.randn(8, 6, generator=g, dtype=torch.float64) * scale
    q = Normal(mu, torch.exp(0.5 * logvar))
    p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = kl_divergence(q, p).sum(dim=1)
    torch.testing.assert_close(closed_form_kl(mu, logvar), expected)


def test_kl_is_zero_only_at_the_prior() -> None:
    zeros = torch.zeros(3, 5)
    assert torch.equal(closed_form_kl(zeros, zeros), torch.zeros(3))
    assert (closed_form_kl(zeros + 0.1, zeros) > 0).all()
    assert (closed_form_kl(zeros, zeros - 0.1) > 0).all()


def test_loss_is_the_negative_elbo() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 1, 28, 28, generator=g, dtype=torch.float64)
    logits = torch.randn(5, 1, 28, 28, generator=g, dtype=torch.float64)
    mu = torch.randn(5, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(5, 3, generator=g, dtype=torch.float64)
    # Direct: -E_q[log p(x|z)] + KL(q || p), with the Bernoulli log-likelihood written out by hand.
    p = torch.sigmoid(logits)
    log_px = (x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1)
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(cvae_loss(logits, x, mu, logvar), (-log_px + kl).mean())
    # For binary targets the BCE is exactly the Bernoulli negative log-likelihood.
    xb = (x > 0.5).double()
    torch.testing.assert_close(
        reconstruction_loss(logits, xb), -Bernoulli(logits=logits).log_prob(xb).flatten(1).sum(1)
    )


def test_beta_weights_only_the_kl_term() -> None:
    g = torch.Generator().manual_seed(1)
    x, logits = torch.rand(4, 1, 28, 28, generator=g), torch.randn(4, 1, 28, 28, generator=g)
    mu, logvar = torch.randn(4, 2, generator=g), torch.randn(4, 2, generator=g)
    rec, kld = loss_terms(logits, x, mu, logvar)
    torch.testing.assert_close(cvae_loss(logits, x, mu, logvar, beta=0.25), (rec + 0.25 * kld).mean())


def test_sse_is_the_sum_of_squared_errors_of_the_means() -> None:
    x = torch.full((2, 1, 28, 28), 0.25)
    logits = torch.zeros(2, 1, 28, 28)  # sigmoid(0) = 0.5
    torch.testing.assert_close(reconstruction_loss(logits, x, "sse"), torch.full((2,), 784 * 0.0625))


def test_bce_from_logits_is_stable_for_extreme_logits() -> None:
    logits = torch.tensor([[-200.0, 200.0]]).view(1, 1, 1, 2)
    x = torch.tensor([[0.0, 1.0]]).view(1, 1, 1, 2)
    loss = reconstruction_loss(logits, x)
    assert torch.isfinite(loss).all() and loss.item() < 1e-6
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(logits, x, reduction="sum").view(1))


def test_log_normal_matches_torch_distributions() -> None:
    g = torch.Generator().manual_seed(2)
    z, mu, logvar = (torch.randn(4, 3, generator=g, dtype=torch.float64) for _ in range(3))
    expected = Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    torch.testing.assert_close(log_normal(z, mu, logvar), expected)
    assert math.isclose(
        log_normal(torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, 1)).item(),
        -0.5 * math.log(2 * math.pi),
        rel_tol=1e-6,
    )
