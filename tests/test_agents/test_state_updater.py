"""State updater: eq. (13) by hand, a regression term that is not zero and
has gradients, and masks that keep the features the return depends on."""
import copy

import pytest
import torch

from mmrlkd.agents import StateUpdater, state_updater_loss


def loop_loss(masks, predictions, targets, lambda1=5e-3, lambda2=1.0):
    """lambda1 * (1/N) sum_t sum_d |m_td| + lambda2 * (1/N) sum_t (h_t -
    G_t)^2, one float at a time."""
    num = len(targets)
    sparsity = sum(abs(float(m)) for row in masks for m in row) / num
    mse = sum(
        (float(h) - float(g))**2 for h, g in zip(predictions, targets)) / num
    return lambda1 * sparsity + lambda2 * mse, sparsity, mse


def test_loss_terms_by_hand():
    masks = torch.tensor([[0.2, 0.9], [0.5, 0.1]])
    predictions = torch.tensor([1.0, -2.0])
    targets = torch.tensor([0.5, 0.0])
    total, sparsity, mse = state_updater_loss(masks, predictions, targets)
    # sparsity: (1.1 + 0.6) / 2 = 0.85; mse: (0.25 + 4) / 2 = 2.125
    assert sparsity.item() == pytest.approx(0.85)
    assert mse.item() == pytest.approx(2.125)
    assert total.item() == pytest.approx(5e-3 * 0.85 + 2.125)


@pytest.mark.parametrize('per_feature', [True, False])
def test_updater_loss_matches_a_loop_and_trains_both_networks(per_feature):
    torch.manual_seed(0)
    updater = StateUpdater(3, per_feature=per_feature)
    net = updater.network
    torch.nn.init.normal_(net.mask[-1].weight)  # masks that vary
    states, temps, targets = torch.rand(10, 3), torch.rand(10), torch.randn(10)
    noise = updater.noise(states)
    total, sparsity, mse = updater.loss(states, temps, targets, noise)

    # The same by hand: masks, what h sees, h's outputs.
    masks = torch.sigmoid(net.mask(2 * states - 1)).detach()
    assert masks.shape == (10, 3 if per_feature else 1)
    seen = masks * states + (1 - masks) * noise
    predictions = net.estimator(torch.cat([seen, temps[:, None]],
                                          dim=1)).squeeze(1).detach()
    expected = loop_loss(masks.tolist(), predictions, targets)
    assert total.item() == pytest.approx(expected[0], rel=1e-5)
    assert sparsity.item() == pytest.approx(expected[1], rel=1e-5)
    assert mse.item() == pytest.approx(expected[2], rel=1e-5)

    # The regression term is a real loss (the official one is always 0),
    # and its gradient reaches the estimator and the mask network.
    assert mse.item() > 1e-3
    mse.backward()
    for name, param in net.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_masks_start_near_one_and_update_the_states():
    updater = StateUpdater(3, initial_mask=0.9)
    states = torch.rand(16, 3)
    masks = updater.network.masks(states)
    torch.testing.assert_close(masks, torch.full((16, 3), 0.9))
    torch.testing.assert_close(
        updater.update_states(states),
        masks.detach() * states)


def test_masks_keep_the_feature_the_return_depends_on():
    """G_t = -(10 u_t - 2 - 6 s_t0)^2, standardised: only feature 0
    (with the temperature) predicts the return."""
    torch.manual_seed(0)
    updater = StateUpdater(3, lr=1e-2)
    for _ in range(300):
        states, temps = torch.rand(64, 3), torch.rand(64)
        returns = -(10 * temps - 2 - 6 * states[:, 0])**2
        targets = (returns - returns.mean()) / returns.std()
        terms = updater.update(states, temps, targets)
    masks = updater.network.masks(torch.rand(4096, 3)).mean(0).tolist()
    print('mean masks per feature:', [round(m, 3) for m in masks])
    assert masks[0] > 0.8
    assert max(masks[1:]) < 0.5
    assert terms['mse'] < 0.5  # h explains most of the variance


def test_update_with_no_epochs_only_measures():
    updater = StateUpdater(3, epochs=0)
    before = copy.deepcopy(updater.network.state_dict())
    terms = updater.update(torch.rand(8, 3), torch.rand(8), torch.randn(8))
    assert set(terms) == {
        'loss', 'sparsity', 'mse', 'mask_mean', 'feature_masks',
        'sparsity_gate'
    }
    for key, value in updater.network.state_dict().items():
        assert torch.equal(value, before[key])


def test_state_dict_round_trip_continues_identically():
    torch.manual_seed(0)
    updater = StateUpdater(3)
    states, temps, targets = torch.rand(8, 3), torch.rand(8), torch.randn(8)
    updater.update(states, temps, targets)
    twin = StateUpdater(3)
    twin.load_state_dict(copy.deepcopy(updater.state_dict()))
    assert twin.optimizer.state_dict()['state']
    torch.manual_seed(1)
    updater.update(states, temps, targets)
    torch.manual_seed(1)
    twin.update(states, temps, targets)
    for a, b in zip(updater.params, twin.params):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize('kwargs', [
    dict(hidden_dim=0),
    dict(lr=0.0),
    dict(epochs=-1),
    dict(sparsity_weight=-1e-3),
    dict(regression_weight=-1.0),
    dict(initial_mask=1.0),
])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        StateUpdater(3, **kwargs)


@pytest.mark.parametrize('gate_sparsity', [True, False])
def test_masks_hold_under_a_return_that_is_pure_noise(gate_sparsity):
    """No feature predicts a noise return, so none should be preferred and
    the policy should keep seeing its states. Eq. 13's ungated L1 term
    drives every mask to 0 (measured: < 0.01 after these 300 episodes);
    gated by the share of variance h explains, the masks stay open."""
    torch.manual_seed(0)
    updater = StateUpdater(3, lr=1e-2, gate_sparsity=gate_sparsity)
    for _ in range(300):
        terms = updater.update(
            torch.rand(64, 3), torch.rand(64), torch.randn(64))
    masks = updater.network.masks(torch.rand(4096, 3)).mean(0)
    if gate_sparsity:
        assert masks.min() > 0.5
        assert float(terms['sparsity_gate']) < 0.05
    else:
        assert masks.max() < 0.05
