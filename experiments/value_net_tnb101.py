"""A value network on six TransNAS-Bench-101 micro tasks, jigsaw held out:

  base-nas fit-predictor experiments/value_net_tnb101.py
  base-nas infer experiments/infer_cifar10.py predictor=runs/value_net_tnb101/predictor \\
      task=jigsaw

The leave-one-task-out figures of every task: benchmarks/transfer_tables.py, docs/results.md.
"""
from base_nas.configs import predictor_config


def get_config():
  return predictor_config(
      space="tnb101", tasks=["class_scene", "class_object", "room_layout", "segmentsemantic",
                             "normal", "autoencoder"], landmarks=dict(count=10, seed=0))
