"""The conditional VAE of the seed text (Kingma & Welling 2013, conditioned on the digit as in section 3).

Encoder q(z|x,y) -> (mu, log sigma^2); decoder p(x|z,y) -> Bernoulli logits over the pixels. The label enters
both networks as a one-hot vector concatenated to their inputs: for `mlp` to the flattened image and to z;
for `conv` to the encoder's flattened convolutional features, to z, and as ten constant planes to each of
the decoder's upsampling stages.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.config import CVAEConfig


def one_hot(y: Tensor, num_classes: int) -> Tensor:
    return F.one_hot(y.long(), num_classes).float()


def class_labels(label: int, n: int) -> Tensor:
    """n rows of the class `label`, as the networks take them."""
    return torch.full((n,), label, dtype=torch.long)


class MLPEncoder(nn.Module):
    """The seed's plain form: 784 + 10 -> hidden -> (mu, logvar)."""

    def __init__(self, cfg: CVAEConfig) -> None:
        super().__init__()
        pixels = cfg.image_size * cfg.image_size
        self.hidden = nn.Sequential(nn.Linear(pixels + cfg.num_classes, cfg.hidden_dim), nn.ReLU())
        self.head = nn.Linear(cfg.hidden_dim, 2 * cfg.latent_dim)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        return self.head(self.hidden(torch.cat([x.flatten(1), c], dim=1)))


class MLPDecoder(nn.Module):
    def __init__(self, cfg: CVAEConfig) -> None:
        super().__init__()
        self.shape = (1, cfg.image_size, cfg.image_size)
        self.net = nn.Sequential(
            nn.Linear(cfg.latent_dim + cfg.num_classes, cfg.hidden_dim),
            nn.ReLU(),
            nn.Linear(cfg.hidden_dim, cfg.image_size * cfg.image_size),
        )

    def forward(self, z: Tensor, c: Tensor) -> Tensor:
        return self.net(torch.cat([z, c], dim=1)).view(-1, *self.shape)


class ConvEncoder(nn.Module):
    """Two stride-2 convolutions (28 -> 14 -> 7), then the label joins the flattened features."""

    def __init__(self, cfg: CVAEConfig) -> None:
        super().__init__()
        ch = cfg.channels
        side = cfg.image_size // 4
        self.features = nn.Sequential(
            nn.Conv2d(1, ch, 3, padding=1),
            nn.ELU(),
            nn.Conv2d(ch, ch, 4, stride=2, padding=1),
            nn.ELU(),
            nn.Conv2d(ch, 2 * ch, 4, stride=2, padding=1),
            nn.ELU(),
            nn.Flatten(),
        )
        self.head = nn.Sequential(
            nn.Linear(2 * ch * side * side + cfg.num_classes, 8 * ch),
            nn.ELU(),
            nn.Linear(8 * ch, 2 * cfg.latent_dim),
        )

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        return self.head(torch.cat([self.features(x), c], dim=1))


def label_planes(c: Tensor, side: int) -> Tensor:
    """The one-hot label as constant feature planes, to concatenate to a (N, C, side, side) feature map."""
    return c[:, :, None, None].expand(-1, -1, side, side)


class ConvDecoder(nn.Module):
    """(z, label) -> 7x7 feature map -> two transposed convolutions -> 28x28 logits.

    The label also enters each upsampling stage as ten constant planes, so the digit's identity is given to
    every resolution rather than left for z to carry (which would blur the digits sampled from the prior).
    """

    def __init__(self, cfg: CVAEConfig) -> None:
        super().__init__()
        ch, k = cfg.channels, cfg.num_classes
        self.side = cfg.image_size // 4
        self.project = nn.Sequential(
            nn.Linear(cfg.latent_dim + k, 8 * ch),
            nn.ELU(),
            nn.Linear(8 * ch, 2 * ch * self.side * self.side),
            nn.ELU(),
            nn.Unflatten(1, (2 * ch, self.side, self.side)),
        )
        self.up1 = nn.Sequential(nn.ConvTranspose2d(2 * ch + k, ch, 4, stride=2, padding=1), nn.ELU())
        self.up2 = nn.Sequential(nn.ConvTranspose2d(ch + k, ch, 4, stride=2, padding=1), nn.ELU())
        self.out = nn.Conv2d(ch, 1, 3, padding=1)

    def forward(self, z: Tensor, c: Tensor) -> Tensor:
        h = self.project(torch.cat([z, c], dim=1))
        h = self.up1(torch.cat([h, label_planes(c, self.side)], dim=1))
        h = self.up2(torch.cat([h, label_planes(c, 2 * self.side)], dim=1))
        return self.out(h)


_NETWORKS = {"mlp": (MLPEncoder, MLPDecoder), "conv": (ConvEncoder, ConvDecoder)}


class CVAE(nn.Module):
    """Images are (N, 1, H, W) in [0, 1]; labels are (N,) integers in [0, num_classes)."""

    def __init__(self, cfg: CVAEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        encoder, decoder = _NETWORKS[cfg.arch]
        self.encoder = encoder(cfg)
        self.decoder = decoder(cfg)

    def encode(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Parameters of q(z|x,y): the mean and the log-variance."""
        mu, logvar = self.encoder(x, one_hot(y, self.cfg.num_classes)).chunk(2, dim=1)
        return mu, logvar

    def reparameterize(self, mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """z = sigma * eps + mu with eps ~ N(0, I), so gradients reach mu and logvar."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        """Logits of p(x|z,y); sigmoid() of them is the image."""
        return self.decoder(z, one_hot(y, self.cfg.num_classes))

    def images(self, z: Tensor, y: Tensor) -> Tensor:
        """The decoder's mean image for each (z, y), as pixel intensities in [0, 1]."""
        return torch.sigmoid(self.decode(z, y))

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.encode(x, y)
        z = self.reparameterize(mu, logvar)
        return self.decode(z, y), mu, logvar

    def sample_latents(
        self,
        n: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> Tensor:
        """z ~ N(0, temperature^2 I); drawn on the CPU so a seed gives the same z on every device, then moved
        to `device` (default: the model's)."""
        z = torch.randn((n, self.cfg.latent_dim), generator=generator)
        return (temperature * z).to(device or next(self.parameters()).device)

    @torch.no_grad()
    def generate(
        self, y: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """New images of the digits `y`, as pixel intensities in [0, 1]."""
        z = self.sample_latents(len(y), temperature, generator)
        return self.images(z, y.to(z.device))
