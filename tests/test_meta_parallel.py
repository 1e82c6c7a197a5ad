"""The meta-step spread over 4 simulated devices and over 2 real processes equals one device's.

Each configuration runs in its own subprocess (tests/meta_parallel_worker.py): the simulated
device count is fixed when a JAX backend starts, and each process of a distributed run needs a
runtime of its own.
"""
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "meta_parallel_worker.py")
FOUR_DEVICES = "--xla_force_host_platform_device_count=4"


def _env(xla_flags: str = "", **extra) -> dict:
  env = {k: v for k, v in os.environ.items()
         if not k.startswith("BASE_NAS_") and k != "XLA_FLAGS"}
  env.update(JAX_PLATFORMS="cpu", BASE_NAS_JAX_CACHE="", XLA_FLAGS=xla_flags, **extra)
  return env


def _worker(out, devices, *, xla_flags="", tasks=4):
  proc = subprocess.run([sys.executable, WORKER, str(out), str(devices), str(tasks)],
                        env=_env(xla_flags), capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return dict(np.load(out))


def _assert_same(got, want):
  assert sorted(got) == sorted(want)
  for name, w in want.items():
    g = got[name]
    # Each device compiles its own one-task program and sums in another order: float32
    # rounding, which the fd meta-gradient's central differences (/ 2r) amplify to 1e-5..3e-4
    # of a leaf's scale (3e-4: the classifier bias, on one CI machine's CPU; the same on the code
    # before and after a change, so the CPU's, not the code's). A task counted twice or given
    # another key would differ by O(1).
    scale = float(np.max(np.abs(w))) if w.size else 0.0
    atol = 1e-3 * scale + 1e-7
    if name.startswith("theta"):
      # Adam's first step moves every element by about its learning rate (1e-3) whatever the
      # gradient's size, so elements with gradients near 0 carry their rounding into theta.
      atol = 5e-5
    np.testing.assert_allclose(g, w, rtol=1e-4, atol=atol, err_msg=name)


@pytest.fixture(scope="module")
def one_device(tmp_path_factory):
  return _worker(tmp_path_factory.mktemp("one") / "out.npz", 1)


def test_four_devices_equal_one(one_device, tmp_path):
  got = _worker(tmp_path / "out.npz", 4, xla_flags=FOUR_DEVICES)
  assert any(k.startswith("grad") and np.any(v != 0) for k, v in got.items())
  _assert_same(got, one_device)


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_two_processes_equal_one(one_device, tmp_path):
  port = _free_port()
  procs = []
  for pid in range(2):
    env = _env(BASE_NAS_COORDINATOR=f"127.0.0.1:{port}", BASE_NAS_NUM_PROCESSES="2",
               BASE_NAS_PROCESS_ID=str(pid))
    procs.append(subprocess.Popen([sys.executable, WORKER, str(tmp_path / "out.npz"), "1", "4"],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True))
  outs = []
  try:
    for p in procs:
      outs.append(p.communicate(timeout=900))
  finally:
    for p in procs:
      p.kill()
  for p, (stdout, stderr) in zip(procs, outs):
    assert p.returncode == 0, stderr[-3000:]
  assert "process 0/2: 2 device(s)" in outs[0][0] and "process 1/2" in outs[1][0]
  _assert_same(dict(np.load(tmp_path / "out.npz")), one_device)


@pytest.mark.parametrize("overrides,expected", [
    (["meta.devices=8"], "meta.devices=8: only 4 local device(s) present"),
    (["meta.devices=4", "meta.tasks_per_step=6"],
     "meta.tasks_per_step=6 must be a multiple of the 4 device(s)"),
])
def test_device_count_errors(overrides, expected, tmp_path):
  experiment = os.path.join(HERE, "..", "experiments", "base_tinyimagenet_nb201.py")
  code = ("import sys; from base_nas import cli; "
          "raise SystemExit(cli.main(sys.argv[1:]))")
  proc = subprocess.run([sys.executable, "-c", code, "meta-train", experiment,
                         "data.spec=builtin:synthetic", *overrides,
                         "--workdir", str(tmp_path / "w")],
                        env=_env(FOUR_DEVICES), capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2, proc.stderr[-2000:]
  lines = proc.stderr.strip().splitlines()
  assert len(lines) == 1 and expected in lines[0], lines
  assert not (tmp_path / "w").exists()
