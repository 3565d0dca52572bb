"""Monte-Carlo estimates of log p(x|y) from a trained CVAE: the ELBO, the IWAE bound, and the ELBO per label.

With Bernoulli likelihood on grayscale targets these are the conventional BCE "nats" of the VAE literature,
comparable between models trained and evaluated the same way (not a normalised likelihood of grey pixels).
Every bound takes q(z|x,y) from the encoder unless a refined q = (mu, logvar) is passed in.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from model.cvae import CVAE
from model.loss import kl_divergence, log_normal, reconstruction_loss

Posterior = tuple[Tensor, Tensor]


def refine_posterior(
    model: CVAE, x: Tensor, y: Tensor, steps: int, lr: float = 0.03, generator: torch.Generator | None = None
) -> Posterior:
    """The encoder's q(z|x,y), then `steps` Adam steps on each image's own ELBO; the decoder is untouched.

    The encoder's q is one compromise shared by all images (the amortization gap, Cremer et al. 2018);
    optimising (mu, logvar) per image, as semi-amortized VAEs do (Kim et al. 2018), tightens the bound on
    the same generative model.
    """
    with torch.no_grad():
        mu, logvar = model.encode(x, y)
    mu, logvar = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
    optimizer = torch.optim.Adam([mu, logvar], lr=lr)
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            z = model.reparameterize(mu, logvar, generator)
            loss = reconstruction_loss(model.decode(z, y), x, model.cfg.loss) + kl_divergence(mu, logvar)
            optimizer.zero_grad()
            loss.sum().backward()
            optimizer.step()
    finally:
        for p in trainable:
            p.requires_grad_(True)
    return mu.detach(), logvar.detach()


@torch.inference_mode()
def elbo(
    model: CVAE,
    x: Tensor,
    y: Tensor,
    samples: int = 1,
    generator: torch.Generator | None = None,
    q: Posterior | None = None,
) -> Tensor:
    """Per-image ELBO (N,), the reconstruction term averaged over `samples` draws of z ~ q(z|x,y)."""
    mu, logvar = q if q is not None else model.encode(x, y)
    rec = torch.zeros(len(x), device=x.device)
    for _ in range(samples):
        z = model.reparameterize(mu, logvar, generator)
        rec += reconstruction_loss(model.decode(z, y), x, model.cfg.loss)
    return -(rec / samples + kl_divergence(mu, logvar))


@torch.inference_mode()
def iwae_bound(
    model: CVAE,
    x: Tensor,
    y: Tensor,
    k: int = 500,
    chunk: int = 100,
    generator: torch.Generator | None = None,
    q: Posterior | None = None,
) -> Tensor:
    """Per-image importance-weighted bound (Burda et al. 2016) with k samples: tighter than the ELBO."""
    mu, logvar = q if q is not None else model.encode(x, y)
    log_weights = []
    for start in range(0, k, chunk):
        m = min(chunk, k - start)
        z = model.reparameterize(mu.expand(m, *mu.shape), logvar.expand(m, *logvar.shape), generator)
        flat_z = z.reshape(-1, mu.shape[1])
        flat_y = y.repeat(m)
        flat_x = x.repeat(m, 1, 1, 1)
        log_px = -reconstruction_loss(model.decode(flat_z, flat_y), flat_x, model.cfg.loss).view(m, -1)
        log_pz = log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
        log_qz = log_normal(z, mu, logvar)
        log_weights.append(log_px + log_pz - log_qz)
    return torch.logsumexp(torch.cat(log_weights), dim=0) - math.log(k)


@torch.inference_mode()
def elbo_by_label(
    model: CVAE, x: Tensor, samples: int = 1, generator: torch.Generator | None = None
) -> Tensor:
    """(N, num_classes) ELBO of each image under each label: the CVAE used as a Bayes classifier."""
    n, classes = len(x), model.cfg.num_classes
    labels = torch.arange(classes, device=x.device).repeat_interleave(n)
    images = x.repeat(classes, 1, 1, 1)
    return elbo(model, images, labels, samples, generator).view(classes, n).T


# z-draws per label for the ELBO the service computes for each upload; fixed (seed 0) and shared by every
# upload and label, so an upload always gets the same answer, and its calibration (model/ood.py) holds.
FIXED_ELBO_SAMPLES = 5
FIXED_ELBO_SEED = 0


def fixed_noise(latent_dim: int) -> Tensor:
    """The standard-normal draws (FIXED_ELBO_SAMPLES, latent_dim) behind every upload's ELBO by label."""
    generator = torch.Generator().manual_seed(FIXED_ELBO_SEED)
    return torch.randn((FIXED_ELBO_SAMPLES, latent_dim), generator=generator)


@torch.inference_mode()
def elbo_by_label_with_noise(model: CVAE, x: Tensor, eps: Tensor) -> Tensor:
    """(N, num_classes) ELBO of each image under each label, as elbo_by_label, but with the reconstruction
    term averaged over given standard-normal draws eps (S, latent_dim), the same for every image and label.

    One encoder and one decoder pass in all (the service's batches), and an image's answer depends only on
    that image: never on the others in its batch, nor on a random stream they share.
    """
    n, classes, samples = len(x), model.cfg.num_classes, len(eps)
    labels = torch.arange(classes, device=x.device).repeat_interleave(n)
    images = x.repeat(classes, 1, 1, 1)
    mu, logvar = model.encode(images, labels)
    # (image and label, draw, latent): each row's draws sit side by side, so the mean over them reduces the
    # last dimension, whose result (unlike a reduction over the first) does not depend on the row count.
    z = mu[:, None] + torch.exp(0.5 * logvar)[:, None] * eps.to(mu)
    logits = model.decode(z.flatten(0, 1), labels.repeat_interleave(samples))
    rec = reconstruction_loss(logits, images.repeat_interleave(samples, dim=0), model.cfg.loss)
    return -(rec.view(-1, samples).mean(1) + kl_divergence(mu, logvar)).view(classes, n).T
