# RLKD ablation (paper Table 5), WRN-40-2 -> WRN-16-2: the state without the
# uncertainty feature (top-1 minus top-2 student probability); the agent sees
# teacher and student confidence only.
_base_ = ['../rlkd_wrn40-2_wrn16-2_cifar100.py']

model = dict(distiller=dict(temperature_provider=dict(use_uncertainty=False)))
