"""Masked statistics of padded episodes against the same statistics of
each episode's valid steps alone."""
import torch

from mmrlkd.agents.statistics import masked_moments, weighted_mean


def test_masked_moments_match_each_episodes_own_mean_and_std():
    g = torch.Generator().manual_seed(0)
    lengths = [5, 1, 0, 9]
    values = torch.randn(4, 9, 3, generator=g)
    valid = (torch.arange(9) < torch.tensor(lengths).unsqueeze(-1)).float()
    mean, std, count = masked_moments(values, valid.unsqueeze(-1), dim=-2)
    assert mean.shape == std.shape == (4, 1, 3) and count.shape == (4, 1, 1)
    for e, length in enumerate(lengths):
        steps = values[e, :length]
        assert count[e].item() == length
        expected_mean = steps.mean(0) if length else torch.zeros(3)
        expected_std = steps.std(0) if length > 1 else torch.zeros(3)
        torch.testing.assert_close(mean[e, 0], expected_mean)
        torch.testing.assert_close(std[e, 0], expected_std)


def test_masked_moments_over_every_dim_and_weighted_mean():
    g = torch.Generator().manual_seed(1)
    values = torch.randn(3, 7, generator=g)
    valid = (torch.rand(3, 7, generator=g) > 0.4).float()
    mean, std, count = masked_moments(values, valid)
    kept = values[valid.bool()]
    assert count.item() == kept.numel()
    torch.testing.assert_close(mean.reshape(()), kept.mean())
    torch.testing.assert_close(std.reshape(()), kept.std())
    weights = valid / valid.sum()
    torch.testing.assert_close(weighted_mean(values, weights), kept.mean())
    torch.testing.assert_close(weighted_mean(values), values.mean())
