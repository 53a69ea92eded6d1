"""Episode: one set of field names from acting to learning and back from a
checkpoint."""
import torch

from mmrlkd.agents import Episode, PPOUpdater, RLKDAgent, TemperaturePolicy


def make_episode(num=5):
    steps = torch.arange(num, dtype=torch.float32)
    return Episode(
        states=steps[:, None].repeat(1, 3),
        policy_states=0.5 * steps[:, None].repeat(1, 3),
        actions=steps + 0.1,
        log_probs=steps + 0.2,
        values=steps + 0.3)


def test_act_gives_the_fields_learn_takes():
    torch.manual_seed(0)
    policy = TemperaturePolicy(hidden_dim=8)
    agent = RLKDAgent(policy, PPOUpdater(policy))
    temperatures, episode = agent.act(torch.rand(6, 3))
    assert isinstance(episode, Episode) and len(episode) == 6
    assert temperatures.shape == (6, )
    torch.testing.assert_close(temperatures,
                               policy.to_temperature(episode.actions))
    assert float(agent.learn(episode, 0.1)['skipped']) == 0


def test_map_to_and_state_dict_round_trip():
    episode = make_episode()
    halves = episode.map(lambda t: t[:2])
    assert len(halves) == 2 and halves.states.shape == (2, 3)
    assert torch.equal(halves.values, episode.values[:2])
    saved = episode.state_dict()
    assert set(saved) == {
        'states', 'policy_states', 'actions', 'log_probs', 'values'
    }
    saved['actions'].add_(1)  # a copy: the episode is untouched
    assert episode.actions[0].item() == torch.tensor(0.1).item()
    restored = Episode.from_state_dict(dict(episode.state_dict(), extra=1))
    for name in saved:
        assert torch.equal(getattr(restored, name), getattr(episode, name))
    moved = episode.to('meta')
    assert moved.states.device.type == 'meta'


def test_empty_episode():
    empty = Episode.empty(3)
    assert len(empty) == 0
    assert empty.states.shape == (0, 3) and empty.actions.shape == (0, )
