from .ctkd_curriculum_hook import CTKDCurriculumHook, cosine_lambda
from .efficient_exploration_hook import EfficientExplorationHook
from .finite_loss_hook import FiniteLossHook, NonFiniteLossError
from .label_range_hook import LabelRangeError, LabelRangeHook
from .mtkd_agent_hook import MTKDAgentHook
from .random_state_hook import RandomStateHook
from .reward_diagnostics_hook import RewardDiagnosticsHook
from .rlkd_agent_hook import RLKDAgentHook
from .teacher_check_hook import TeacherCheckError, TeacherCheckHook
from .temperature_dump_hook import TemperatureDumpHook

__all__ = [
    'CTKDCurriculumHook', 'EfficientExplorationHook', 'FiniteLossHook',
    'LabelRangeError', 'LabelRangeHook', 'MTKDAgentHook', 'NonFiniteLossError',
    'RandomStateHook', 'RewardDiagnosticsHook', 'RLKDAgentHook',
    'TeacherCheckError', 'TeacherCheckHook', 'TemperatureDumpHook',
    'cosine_lambda'
]
