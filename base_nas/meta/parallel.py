"""Spreading a batch of tasks over devices and hosts: the pmap pattern, with ``jax.shard_map``.

Every device runs the inner loops of its share of the tasks and computes their mean
meta-gradient; one ``pmean`` over the mesh axis averages those. The gradient is taken inside
the mapped function, so no cotangent crosses the ``shard_map`` boundary. The mapping runs
without varying-axis checks (``check_vma=False``): under them the meta-parameters, a replicated
input, would be device-invariant, their gradient would already be summed across devices (the
``pmean`` would count it again), and the supernet's scans, whose carries start from constants,
would not type-check against the task-varying activations.

Several hosts join through JAX's own runtime (:func:`initialize_distributed`); the mesh then
spans every process's devices, and each process feeds only its own tasks
(:func:`global_batch`).
"""
from __future__ import annotations

import os
from typing import Callable

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from base_nas.errors import ConfigError, RunError

AXIS = "tasks"


def initialize_distributed() -> bool:
  """Joins a multi-process run when the environment asks for one; True if it did.

  ``BASE_NAS_COORDINATOR=host:port`` with ``BASE_NAS_NUM_PROCESSES`` and ``BASE_NAS_PROCESS_ID``
  name everything explicitly (scripts/launch_multiprocess.sh); ``BASE_NAS_DISTRIBUTED=1`` lets
  JAX detect SLURM or a Cloud TPU pod slice itself.
  """
  coordinator = os.environ.get("BASE_NAS_COORDINATOR")
  if coordinator:
    try:
      n = int(os.environ["BASE_NAS_NUM_PROCESSES"])
      pid = int(os.environ["BASE_NAS_PROCESS_ID"])
    except (KeyError, ValueError) as e:
      raise ConfigError("BASE_NAS_COORDINATOR needs integer BASE_NAS_NUM_PROCESSES and "
                        f"BASE_NAS_PROCESS_ID ({e})") from None
    # CPU processes need a collectives backend; asking which backend is in use would start
    # it, and initialize() must come first. The setting leaves GPU and TPU clients alone.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator, num_processes=n, process_id=pid)
    return True
  if os.environ.get("BASE_NAS_DISTRIBUTED", "") not in ("", "0"):
    jax.distributed.initialize()
    return True
  return False


def resolve_devices(requested: int, tasks_per_step: int) -> int:
  """The number of devices per process to use (0: all local ones), checked against the task
  batch before anything compiles."""
  available = jax.local_device_count()
  n = requested or available
  if n > available:
    raise ConfigError(f"meta.devices={requested}: only {available} local device(s) present")
  total = n * jax.process_count()
  if tasks_per_step % total:
    raise ConfigError(f"meta.tasks_per_step={tasks_per_step} must be a multiple of the "
                      f"{total} device(s) it is spread over (meta.devices={n} per process x "
                      f"{jax.process_count()} process(es))")
  return n


def make_mesh(devices_per_process: int) -> Mesh:
  """A one-axis mesh over the first ``devices_per_process`` devices of every process."""
  devs = [d for p in range(jax.process_count())
          for d in [x for x in jax.devices() if x.process_index == p][:devices_per_process]]
  return Mesh(np.array(devs), (AXIS,))


def data_parallel(task_mean_grads: Callable, mesh: Mesh, per_task: int = 1) -> Callable:
  """``task_mean_grads(theta, *args) -> (grads, metrics)`` (means over the tasks given) turned
  into the same mean over a task batch sharded across ``mesh``: the first ``per_task`` of
  ``args`` have a leading task axis and are split over the devices, the rest are replicated."""
  def per_device(theta, *args):
    return jax.lax.pmean(task_mean_grads(theta, *args), AXIS)

  def call(theta, *args):
    specs = (P(),) + tuple(P(AXIS) if i < per_task else P() for i in range(len(args)))
    return jax.shard_map(per_device, mesh=mesh, in_specs=specs, out_specs=P(),
                         check_vma=False)(theta, *args)
  return call


def replicated(mesh: Mesh, tree):
  """Host values (equal on every process) placed on every device of the mesh."""
  sharding = NamedSharding(mesh, P())
  return jax.tree.map(lambda x: jax.make_array_from_callback(
      np.shape(x), sharding, lambda idx: np.asarray(x)[idx]), tree)


def process_share(num_tasks: int) -> slice:
  """The tasks of a meta-batch this process builds (contiguous, in process order)."""
  per = num_tasks // jax.process_count()
  start = jax.process_index() * per
  return slice(start, start + per)


def global_batch(mesh: Mesh, local_tree):
  """This process's tasks as the matching rows of one task-sharded global array."""
  sharding = NamedSharding(mesh, P(AXIS))
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)),
                      local_tree)


def agree(value, problem: str) -> None:
  """Raises RunError with ``problem`` unless every process holds the same ``value``."""
  from jax.experimental import multihost_utils
  values = np.asarray(multihost_utils.process_allgather(np.asarray(value)))
  if not np.all(values == values[0]):
    raise RunError(f"{problem} (per process: {values.reshape(len(values), -1)[:, 0].tolist()})")


def to_host(tree):
  """A replicated global value as numpy arrays (every process holds a full copy)."""
  return jax.tree.map(lambda x: np.asarray(x.addressable_shards[0].data)
                      if isinstance(x, jax.Array) else np.asarray(x), tree)
