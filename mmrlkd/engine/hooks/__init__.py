from .rlkd_agent_hook import RLKDAgentHook

__all__ = ['RLKDAgentHook']
