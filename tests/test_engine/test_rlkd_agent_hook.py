"""RLKDAgentHook in a real MMEngine Runner on a few DigitPairs images."""
import os.path as osp

import pytest
import torch
from mmengine.runner import Runner
from tiny_digitpairs import tiny_config

from mmrlkd.engine import RLKDAgentHook
from mmrlkd.utils.host_reads import HostReads

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RLKD = osp.join(ROOT,
                'configs/digitpairs/rlkd_resnet56_resnet8w4_digitpairs.py')
KD = osp.join(ROOT, 'configs/digitpairs/kd_resnet56_resnet8w4_digitpairs.py')


def tiny_runner(config, work_dir, epochs=1, agent_warmup=0, **options):
    cfg = tiny_config(config, work_dir, epochs, **options)
    if 'custom_hooks' in cfg:
        cfg.custom_hooks[0].agent_warmup = agent_warmup
    return Runner.from_cfg(cfg)


def policy_of(runner):
    return runner.model.temperature_provider.policy


def test_agent_trains_logs_and_is_saved(tmp_path):
    runner = tiny_runner(RLKD, tmp_path)
    before = [p.detach().clone() for p in policy_of(runner).parameters()]
    runner.train()
    after = list(policy_of(runner).parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
    hub = runner.message_hub
    for key in ('reward', 'policy_loss', 'value_loss', 'approx_kl',
                'clip_fraction', 'entropy', 'std', 'corrector_loss',
                'calibrated_reward_std', 'state_updater_loss',
                'state_updater_mse', 'mask_mean', 'reward_std'):
        assert f'train/rl/{key}' in hub.log_scalars, key
    # 4 iterations: 3 closed episodes, the last one waits for its reward.
    assert len(hub.get_scalar('train/rl/reward').data[0]) == 3
    student_params = {
        id(p)
        for group in runner.optim_wrapper.optimizer.param_groups
        for p in group['params']
    }
    assert not student_params & {id(p) for p in after}
    checkpoint = torch.load(
        osp.join(tmp_path, 'epoch_1.pth'), weights_only=False)
    saved = checkpoint['rlkd_agent']
    for key, value in policy_of(runner).state_dict().items():
        assert torch.equal(saved['policy'][key], value)
    assert saved['pending']['actions'].shape == (8, )
    agent = runner.model.temperature_provider.agent
    for part in ('reward_corrector', 'state_updater'):
        for key, value in getattr(agent, part).network.state_dict().items():
            assert torch.equal(saved[part]['network'][key], value)
        assert saved[part]['optimizer']['state']
        # Agent networks stay out of the student's optimizer.
        assert not student_params & {
            id(p)
            for p in getattr(agent, part).network.parameters()
        }
    assert len(saved['reward_corrector']['replay']) == 3
    assert saved['reward_count'] == 3


def test_resume_restores_the_agent(tmp_path):
    tiny_runner(RLKD, tmp_path).train()
    saved = torch.load(
        osp.join(tmp_path, 'epoch_1.pth'), weights_only=False)['rlkd_agent']
    runner = tiny_runner(RLKD, tmp_path, epochs=1, resume=True)
    runner.load_or_resume()
    provider = runner.model.temperature_provider
    for key, value in provider.policy.state_dict().items():
        assert torch.equal(saved['policy'][key], value)
    assert len(provider.reward.pending.episode) == 8
    assert provider.updater.optimizer.state_dict()['state']
    corrector = provider.agent.reward_corrector
    for key, value in corrector.network.state_dict().items():
        assert torch.equal(saved['reward_corrector']['network'][key], value)
    assert len(corrector.replay) == 3
    assert provider.agent.state_updater.optimizer.state_dict()['state']
    assert provider.agent.reward_scale.moments.count == 3


def log_text(runner):
    """The run's log file, as written by MMEngine's logger."""
    with open(osp.join(runner.log_dir, f'{runner.timestamp}.log')) as f:
        return f.read()


def test_a_kd_checkpoint_starts_a_fresh_agent_with_a_warning(tmp_path):
    tiny_runner(KD, tmp_path / 'kd').train()
    runner = tiny_runner(
        RLKD, tmp_path / 'rlkd', load_from=str(tmp_path / 'kd/epoch_1.pth'))
    runner.train()
    assert 'WARNING - The checkpoint has no RLKD agent' in log_text(runner)


def test_resuming_without_calibration_parts_warns(tmp_path):
    off = {
        'model.distiller.temperature_provider.reward_calibration': False,
        'model.distiller.temperature_provider.state_update': False
    }
    tiny_runner(RLKD, tmp_path / 'off', **off).train()
    runner = tiny_runner(
        RLKD, tmp_path / 'on', load_from=str(tmp_path / 'off/epoch_1.pth'))
    runner.load_or_resume()
    assert "The checkpoint's RLKD agent has no reward_corrector, " \
        'state_updater (saved with them switched off)' in log_text(runner)


def test_warmup_longer_than_the_schedule_is_reported(tmp_path):
    runner = tiny_runner(RLKD, tmp_path, agent_warmup=5)
    runner.train()
    assert 'the agent will never act' in log_text(runner)
    assert 'train/rl/reward' not in runner.message_hub.log_scalars


def test_hook_needs_an_rlkd_model(tmp_path):
    runner = tiny_runner(
        KD, tmp_path, custom_hooks=[dict(type='mmrlkd.RLKDAgentHook')])
    with pytest.raises(TypeError, match='RLKD temperature provider'):
        runner.train()


@pytest.mark.parametrize('kwargs', [
    dict(agent_warmup=-1),
    dict(update_interval=0)
])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        RLKDAgentHook(**kwargs)


def test_reward_warmup_counts_from_when_the_agent_acts(tmp_path):
    """agent_warmup=1, reward_warmup=2 epochs of 4 iterations: epoch 0
    only acts at the warm-up temperature; the rewards of epoch 1 are
    scaled by 1/2, those of epoch 2 by 1 (counted from the start of
    training the ramp would already be over at epoch 1)."""
    runner = tiny_runner(RLKD, tmp_path, epochs=3, agent_warmup=1)
    hook = next(h for h in runner.hooks if type(h).__name__ == 'RLKDAgentHook')
    hook.reward_warmup = 2
    runner.train()
    scales = runner.message_hub.get_scalar(
        'train/rl/reward_scale').data[0].tolist()
    # The first reward closes the first acting iteration's episode.
    assert scales == [0.5] * 3 + [1.0] * 4


def test_annealed_actor_lr_spans_the_acting_iterations(tmp_path):
    """ppo.anneal_lr: 2 epochs of 4 iterations, the agent acts from epoch
    1, so the hook sets a horizon of 4 updates; the 3 episodes closed in
    epoch 1 learn at 1e-4 * (1, 3/4, 1/2)."""
    runner = tiny_runner(
        RLKD, tmp_path, epochs=2, agent_warmup=1,
        **{'model.distiller.temperature_provider.ppo.anneal_lr': True})
    runner.train()
    updater = runner.model.temperature_provider.updater
    assert updater.total_updates == 4
    rates = runner.message_hub.get_scalar(
        'train/rl/actor_lr').data[0].tolist()
    assert rates == pytest.approx([1e-4, 7.5e-5, 5e-5])
    assert 'anneals to 0 over 4 agent updates' in log_text(runner)
    saved = torch.load(
        osp.join(tmp_path, 'epoch_2.pth'), weights_only=False)['rlkd_agent']
    assert saved['updater']['num_updates'] == 3


def test_same_batch_reward_rewards_every_iteration_in_a_runner(tmp_path):
    """reward='same_batch': each of the 4 iterations' episodes is rewarded
    in its own iteration (the paper's reward closes 3), and nothing is left
    pending in the checkpoint."""
    runner = tiny_runner(
        RLKD, tmp_path,
        **{'model.distiller.temperature_provider.reward': 'same_batch'})
    before = [p.detach().clone() for p in policy_of(runner).parameters()]
    runner.train()
    rewards = runner.message_hub.get_scalar('train/rl/reward').data[0]
    assert len(rewards) == 4
    assert any(not torch.equal(a, b)
               for a, b in zip(before,
                               policy_of(runner).parameters()))
    checkpoint = torch.load(
        osp.join(tmp_path, 'epoch_1.pth'), weights_only=False)
    assert checkpoint['rlkd_agent'].get('pending') is None
    assert runner.model._reward_batch is None


def test_a_frozen_agent_acts_and_is_rewarded_but_never_learns(tmp_path):
    runner = tiny_runner(RLKD, tmp_path)
    hook = next(h for h in runner.hooks if type(h).__name__ == 'RLKDAgentHook')
    hook.learn = False
    before = [p.detach().clone() for p in policy_of(runner).parameters()]
    runner.train()
    assert all(
        torch.equal(a, b) for a, b in zip(before,
                                          policy_of(runner).parameters()))
    hub = runner.message_hub
    assert len(hub.get_scalar('train/rl/reward').data[0]) == 3
    assert 'train/rl/policy_loss' not in hub.log_scalars
    temperatures = hub.get_scalar('train/distill.temperature_std')
    assert temperatures.current() > 0  # it acted: temperatures vary


def test_the_official_schedule_learns_only_in_rl_epochs(tmp_path):
    """learn_epoch_interval=2 (the official code's 20, scaled): 3 epochs of
    4 iterations, the agent acts throughout but learns only in epoch 2
    (1-based), i.e. 4 updates, the horizon ``anneal_lr`` spans."""
    runner = tiny_runner(
        RLKD, tmp_path, epochs=3,
        **{'model.distiller.temperature_provider.ppo.anneal_lr': True,
           'custom_hooks.0.learn_epoch_interval': 2})
    runner.train()
    updater = runner.model.temperature_provider.updater
    assert updater.total_updates == 4
    assert updater.num_updates == 4
    hub = runner.message_hub
    # Rewarded every iteration but the first; learned in epoch 2 only.
    assert len(hub.get_scalar('train/rl/reward').data[0]) == 11
    assert len(hub.get_scalar('train/rl/policy_loss').data[0]) == 4


def test_the_official_schedule_needs_epochs():
    with pytest.raises(ValueError, match='by_epoch'):
        RLKDAgentHook(learn_epoch_interval=20, by_epoch=False)


def test_scalars_are_read_once_per_log_interval_and_logged_alike(tmp_path):
    """Two epochs of 4 iterations with the LoggerHook every 3: the agent's
    scalars reach the message hub in the same order and values as when
    read every iteration, with one read of the device (beside the agent's
    own decision whether to learn) in iterations 3, 4 (the epoch's end),
    7 and 8 only."""
    logged, reads = {}, {}
    for interval in (1, 3):
        runner = tiny_runner(
            RLKD, tmp_path / str(interval), epochs=2,
            **{'default_hooks.logger.interval': interval})
        hook = next(h for h in runner.hooks if isinstance(h, RLKDAgentHook))
        counts = []
        original = hook.after_train_iter

        def counted(*args, _original=original, _counts=counts, **kwargs):
            with HostReads() as counter:
                _original(*args, **kwargs)
            _counts.append(len(counter.reads))

        hook.after_train_iter = counted
        runner.train()
        hub = runner.message_hub
        logged[interval] = {
            key: hub.get_scalar(key).data[0].tolist()
            for key in hub.log_scalars if key.startswith('train/rl/')
        }
        reads[interval] = counts
    assert logged[3] == logged[1]
    assert len(logged[3]['train/rl/reward']) == 7
    # The first iteration closes no episode (its reward comes with the
    # next batch); the others learn: one header read each.
    assert reads[1] == [0] + [2] * 7
    assert reads[3] == [0, 1, 2, 2, 1, 1, 2, 2]
