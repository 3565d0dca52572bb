import math

import pytest
import torch

from model.config import CVAEConfig
from model.cvae import CVAE
from model.loss import cvae_loss


def test_shapes(cvae: CVAE) -> None:
    x, y = torch.rand(3, 1, 28, 28), torch.tensor([0, 5, 9])
    logits, mu, logvar = cvae(x, y)
    assert logits.shape == (3, 1, 28, 28)
    assert mu.shape == logvar.shape == (3, cvae.cfg.latent_dim)


def test_gradients_flow_through_the_reparameterization(cvae: CVAE) -> None:
    mu = torch.zeros(4, cvae.cfg.latent_dim, requires_grad=True)
    logvar = torch.zeros(4, cvae.cfg.latent_dim, requires_grad=True)
    z = cvae.reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    z.sum().backward()
    assert torch.equal(mu.grad, torch.ones_like(mu))  # dz/dmu = 1
    assert logvar.grad.abs().sum() > 0  # dz/dlogvar = eps * sigma / 2

    cvae.train()
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([1, 2, 3, 4])
    logits, mu, logvar = cvae(x, y)
    cvae_loss(logits, x, mu, logvar).backward()
    for name, p in cvae.encoder.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"no gradient reached encoder {name}"


def test_reparameterization_draws_from_q() -> None:
    model = CVAE(CVAEConfig(arch="mlp", latent_dim=2))
    mu, logvar = torch.tensor([[1.0, -2.0]]).expand(20000, 2), torch.tensor([[0.0, 2.0]]).expand(20000, 2)
    z = model.reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.05, rtol=0)
    # sigma = exp(logvar / 2): 1 and e.
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, math.e]), atol=0, rtol=0.03)


def test_changing_the_label_changes_the_decoder_output(cvae: CVAE) -> None:
    z = torch.randn(1, cvae.cfg.latent_dim).expand(10, -1)
    images = cvae.images(z, torch.arange(10))
    for a in range(10):
        for b in range(a + 1, 10):
            assert not torch.allclose(images[a], images[b]), f"labels {a} and {b} decode alike"


def test_changing_the_label_changes_the_encoder_output(cvae: CVAE) -> None:
    x = torch.rand(1, 1, 28, 28).expand(2, -1, -1, -1)
    mu, _ = cvae.encode(x, torch.tensor([3, 8]))
    assert not torch.allclose(mu[0], mu[1])


def test_same_seed_same_samples_and_temperature_scales_the_prior(cvae: CVAE) -> None:
    y = torch.tensor([7, 7, 7])
    a = cvae.generate(y, 1.0, torch.Generator().manual_seed(42))
    b = cvae.generate(y, 1.0, torch.Generator().manual_seed(42))
    c = cvae.generate(y, 1.0, torch.Generator().manual_seed(43))
    assert torch.equal(a, b) and not torch.equal(a, c)
    z1 = cvae.sample_latents(5, 1.0, torch.Generator().manual_seed(0))
    z2 = cvae.sample_latents(5, 2.5, torch.Generator().manual_seed(0))
    torch.testing.assert_close(z2, 2.5 * z1)
    assert ((a >= 0) & (a <= 1)).all()


@pytest.mark.parametrize(
    "kwargs",
    [{"arch": "resnet"}, {"loss": "l1"}, {"latent_dim": 0}, {"arch": "conv", "image_size": 30}],
)
def test_bad_configs_are_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        CVAEConfig(**kwargs)


def test_config_round_trip() -> None:
    cfg = CVAEConfig(arch="mlp", latent_dim=7, hidden_dim=11)
    assert CVAEConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        CVAEConfig.from_dict({**cfg.to_dict(), "depth": 3})
