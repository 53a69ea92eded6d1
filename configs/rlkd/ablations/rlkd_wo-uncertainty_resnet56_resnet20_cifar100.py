# RLKD ablation (paper Table 5), ResNet-56 -> ResNet-20: the state without the
# uncertainty feature (top-1 minus top-2 student probability); the agent sees
# teacher and student confidence only.
_base_ = ['../rlkd_resnet56_resnet20_cifar100.py']

model = dict(distiller=dict(temperature_provider=dict(use_uncertainty=False)))
