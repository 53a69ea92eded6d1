"""EpisodeBuffer: storage, delayed reward, growth, checkpointing."""
import pytest
import torch

from mmrlkd.agents import EpisodeBuffer


def batch(num, dim=3, offset=0.0):
    steps = torch.arange(num, dtype=torch.float32) + offset
    return dict(
        states=steps[:, None].repeat(1, dim),
        actions=steps + 0.1,
        log_probs=steps + 0.2,
        values=steps + 0.3)


def with_policy_states(data):
    """The same batch, the policy having seen half of each state."""
    return dict(data, policy_states=0.5 * data['states'])


def test_store_and_get_keep_batch_order():
    buffer = EpisodeBuffer(capacity=8, state_dim=3)
    buffer.store(**batch(3))
    buffer.store(**batch(2, offset=3))
    data = buffer.get()
    assert len(buffer) == 5
    assert data['states'].shape == (5, 3)
    for name in ('actions', 'log_probs', 'values', 'rewards'):
        assert data[name].shape == (5, )
    assert data['actions'].tolist() == pytest.approx([0.1, 1.1, 2.1, 3.1, 4.1])
    assert data['states'][:, 0].tolist() == [0, 1, 2, 3, 4]
    assert data['rewards'].tolist() == [0] * 5
    # Views of the storage, not copies.
    assert data['states'].data_ptr() == buffer.states.data_ptr()


def test_store_detaches():
    buffer = EpisodeBuffer(4, 3)
    data = batch(2)
    data['values'] = data['values'].requires_grad_()
    buffer.store(**data)
    assert not buffer.get()['values'].requires_grad


def test_delayed_reward_sits_on_the_last_step():
    buffer = EpisodeBuffer(8, 3)
    buffer.store(**batch(5))
    buffer.set_rewards(torch.ones(5))
    buffer.set_delayed_reward(torch.tensor(2.5))
    assert buffer.get()['rewards'].tolist() == [0, 0, 0, 0, 2.5]
    buffer.set_delayed_reward(-1.0)
    assert buffer.get()['rewards'].tolist() == [0, 0, 0, 0, -1.0]


def test_set_rewards():
    buffer = EpisodeBuffer(8, 3)
    buffer.store(**batch(3))
    buffer.set_rewards(torch.tensor([1.0, 2.0, 3.0]))
    assert buffer.get()['rewards'].tolist() == [1, 2, 3]
    with pytest.raises(ValueError):
        buffer.set_rewards(torch.ones(4))


def test_grows_beyond_capacity_and_keeps_contents():
    buffer = EpisodeBuffer(capacity=4, state_dim=3)
    buffer.store(**batch(3))
    buffer.store(**batch(3, offset=3))
    assert buffer.capacity >= 6
    buffer.store(**batch(20, offset=6))
    assert len(buffer) == 26 and buffer.capacity >= 26
    assert buffer.get()['values'].tolist() == pytest.approx(
        [t + 0.3 for t in range(26)])


def test_clear_starts_a_new_episode():
    buffer = EpisodeBuffer(4, 3)
    buffer.store(**batch(3))
    buffer.set_delayed_reward(1.0)
    buffer.clear()
    assert len(buffer) == 0
    assert buffer.get()['states'].shape == (0, 3)
    buffer.store(**batch(2, offset=7))
    assert buffer.get()['actions'].tolist() == pytest.approx([7.1, 8.1])
    assert buffer.get()['rewards'].tolist() == [0, 0]


def test_policy_states_default_to_the_states():
    buffer = EpisodeBuffer(4, 3)
    buffer.store(**batch(2))
    buffer.store(**with_policy_states(batch(2, offset=2)))
    data = buffer.get()
    expected = batch(4)['states']
    expected[2:] *= 0.5
    torch.testing.assert_close(data['policy_states'], expected)
    bad = with_policy_states(batch(2))
    bad['policy_states'] = bad['policy_states'][:, :2]
    with pytest.raises(ValueError, match='policy_states'):
        buffer.store(**bad)


def test_state_dict_round_trip():
    buffer = EpisodeBuffer(4, 3)
    buffer.store(**with_policy_states(batch(6)))
    buffer.set_rewards(torch.arange(6.0))
    state = buffer.state_dict()
    buffer.set_rewards(torch.zeros(6))  # the saved copy must not change
    restored = EpisodeBuffer(2, 3)
    restored.load_state_dict(state)
    assert len(restored) == 6
    for name, tensor in restored.get().items():
        expected = with_policy_states(batch(6)).get(name, torch.arange(6.0))
        torch.testing.assert_close(tensor, expected)
    restored.store(**batch(1, offset=6))
    assert len(restored) == 7
    with pytest.raises(ValueError):
        EpisodeBuffer(4, 2).load_state_dict(state)


def test_state_saved_without_policy_states_loads_the_raw_states():
    buffer = EpisodeBuffer(4, 3)
    buffer.store(**batch(3))
    state = buffer.state_dict()
    del state['policy_states']
    restored = EpisodeBuffer(4, 3)
    restored.load_state_dict(state)
    torch.testing.assert_close(restored.get()['policy_states'],
                               batch(3)['states'])


def test_empty_buffer_state_dict_round_trip():
    restored = EpisodeBuffer(4, 3)
    restored.store(**batch(2))
    restored.load_state_dict(EpisodeBuffer(4, 3).state_dict())
    assert len(restored) == 0


def test_bad_input_raises():
    with pytest.raises(ValueError):
        EpisodeBuffer(0, 3)
    with pytest.raises(ValueError):
        EpisodeBuffer(4, 0)
    buffer = EpisodeBuffer(4, 3)
    with pytest.raises(ValueError, match='empty'):
        buffer.set_delayed_reward(1.0)
    bad = batch(3, dim=2)
    with pytest.raises(ValueError, match='states'):
        buffer.store(**bad)
    bad = batch(3)
    bad['values'] = torch.zeros(2)
    with pytest.raises(ValueError, match='values'):
        buffer.store(**bad)
