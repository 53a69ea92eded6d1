# RLKD with the same-batch reward (issue 17): iteration t's temperatures
# are rewarded with the student's gain on batch t over its own step (minus
# cross-entropy, re-measured after the step) instead of the paper's change
# of accuracy between two different batches, which is mostly sampling noise.
_base_ = ['./rlkd_resnet56_resnet8w4_digitpairs.py']

model = dict(
    distiller=dict(
        temperature_provider=dict(reward='same_batch', performance='neg_ce')))
