from .rlkd_distill import RLKDDistill

__all__ = ['RLKDDistill']
