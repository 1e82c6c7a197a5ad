"""The shipped predictor `nb201-value-net`: a value network on the NAS-Bench-201 tables of
CIFAR-100 and ImageNet16-120 (CIFAR-10 is kept out: it is the new dataset of the tests below),
tasks described by 8 landmark cells:

  base-nas fit-predictor experiments/value_net_nb201.py
  cp -r runs/value_net_nb201/predictor base_nas/resources/predictors/nb201-value-net

Then, for CIFAR-10 without its table (the landmarks looked up, or trained on the images):

  base-nas infer experiments/infer_cifar10.py task=cifar10
  base-nas infer experiments/infer_cifar10.py

Measured results: docs/results.md, "Transfer from tables".
"""
from base_nas.configs import predictor_config


def get_config():
  return predictor_config(space="nb201", tasks=["cifar100", "imagenet16"],
                          landmarks=dict(count=8, seed=0))
