from .mtkd_rl_distill import MTKDRLDistill
from .rlkd_distill import RLKDDistill
from .sampled_roi_capture import SampledRoICapture
from .student_roi_distill import StudentRoIDistill

__all__ = ['RLKDDistill', 'SampledRoICapture', 'StudentRoIDistill']
__all__ += ['MTKDRLDistill']
