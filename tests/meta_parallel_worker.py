"""One meta-step of a tiny BASE config, for tests/test_meta_parallel.py (run as a subprocess).

  python tests/meta_parallel_worker.py OUT.npz DEVICES [TASKS]

Writes the meta-gradient, the metrics and theta after the step (process 0 only). Several
processes join first when BASE_NAS_COORDINATOR and friends are set, as `base-nas meta-train`
does; the simulated device count comes from XLA_FLAGS.
"""
import sys

from base_nas.meta import parallel

parallel.initialize_distributed()  # before anything starts a JAX backend

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from base_nas import spaces  # noqa: E402
from base_nas.config import Config  # noqa: E402
from base_nas.configs import meta_config  # noqa: E402
from base_nas.meta import train  # noqa: E402
from base_nas.meta.learner import MetaLearner  # noqa: E402


def main(out: str, devices: int, tasks: int) -> None:
  cfg = Config(meta_config(
      space="nb201", data=dict(spec="builtin:synthetic", held_out=0),
      tasks=dict(way=3, shots=2, queries=2, image_sizes=[8]),
      model=dict(channels=4, layers=1),
      meta=dict(tasks_per_step=tasks, inner_steps=2, order="fd", devices=devices)))
  devices = parallel.resolve_devices(cfg.meta.devices, cfg.meta.tasks_per_step)
  _, sampler, _, _, _ = train.open_tasks(cfg)
  learner = MetaLearner(train.build_model(cfg, cfg.tasks.way), spaces.get_space(cfg.space),
                        cfg.meta.relaxation, train.inner_config(cfg.meta),
                        train.outer_config(cfg.meta), devices=devices, seed=cfg.seed)
  state = learner.init(jax.random.PRNGKey(cfg.seed), (8, 8, 3))
  batch = train.task_batch(sampler, 3, cfg.meta.tasks_per_step, learner.mesh)
  tau = jnp.float32(cfg.meta.tau)
  grads, metrics = learner.meta_grads(state.theta, batch, state.step, tau)
  state, _ = learner.meta_step(state, batch, tau)
  if jax.process_index() == 0:
    flat = {}
    for name, tree in (("grad", grads), ("metric", metrics), ("theta", state.theta)):
      for path, leaf in jax.tree_util.tree_flatten_with_path(parallel.to_host(tree))[0]:
        flat[f"{name}{jax.tree_util.keystr(path)}"] = np.asarray(leaf)
    np.savez(out, **flat)
  print(f"process {jax.process_index()}/{jax.process_count()}: "
        f"{len(learner.mesh.devices.flat) if learner.mesh is not None else 1} device(s), ok")


if __name__ == "__main__":
  main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 4)
