"""slerp: the walk /v1/interpolate decodes."""

import torch

from model.interpolation import slerp


def test_slerp_starts_and_ends_at_the_ends_and_keeps_the_norm_on_the_way() -> None:
    g = torch.Generator().manual_seed(0)
    start, end = torch.randn(12, generator=g), torch.randn(12, generator=g)
    end = end * start.norm() / end.norm()
    walk = slerp(start, end, torch.linspace(0, 1, 9))
    torch.testing.assert_close(walk[0], start)
    torch.testing.assert_close(walk[-1], end)
    torch.testing.assert_close(walk.norm(dim=1), start.norm().expand(9))
    assert (walk[4] - (start + end) / 2).norm() > 0.1  # not the straight line, which is shorter


def test_slerp_of_parallel_vectors_is_the_straight_line() -> None:
    start = torch.ones(4)
    walk = slerp(start, 3 * start, torch.tensor([0.0, 0.5, 1.0]))
    torch.testing.assert_close(walk, torch.stack([start, 2 * start, 3 * start]))
