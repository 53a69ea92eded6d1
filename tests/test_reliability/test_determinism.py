"""Same seed, deterministic=True: two CPU runs of RLKD agree bit for bit."""
import torch
from reliability_runs import assert_identical, tiny_runner

RLKD = 'rlkd_resnet56_resnet8w4_digitpairs.py'


def rlkd_run(work_dir, seed):
    """One epoch of 4 iterations, the agent acting and learning from the
    first; returns the temperatures of every iteration and the agent."""
    runner = tiny_runner(RLKD, work_dir, epochs=1, seed=seed)
    runner.train()
    provider = runner.model.temperature_provider
    return runner.recorder.temperatures, provider.agent_state_dict()


def test_two_runs_with_one_seed_are_identical(tmp_path):
    temperatures, agent = rlkd_run(tmp_path / 'first', seed=0)
    again, agent_again = rlkd_run(tmp_path / 'second', seed=0)
    assert len(temperatures) == 4
    assert_identical(temperatures, again, 'temperatures')
    assert_identical(agent, agent_again, 'agent')
    # The agent trained (3 closed episodes) and the comparison can fail:
    # another seed draws other temperatures.
    assert agent['reward_count'] == 3
    other, _ = rlkd_run(tmp_path / 'other', seed=1)
    assert not torch.equal(temperatures[-1][1], other[-1][1])
