from .mtkd_rl_distill import MTKDRLDistill
from .rlkd_distill import RLKDDistill
from .sampled_roi_capture import SampledRoICapture
from .student_roi_distill import StudentRoIDistill
from .teacher_checkpoint import TeacherCheckpointError, load_teacher

__all__ = [
    'MTKDRLDistill', 'RLKDDistill', 'SampledRoICapture', 'StudentRoIDistill',
    'TeacherCheckpointError', 'load_teacher'
]
