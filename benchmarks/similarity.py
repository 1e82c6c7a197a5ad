"""Task2Vec-like task distances between the image datasets available offline.

  .venv/bin/python benchmarks/similarity.py [--data-dir ../shared/data/images] [--max-images 500]

Embeds (base_nas/predict/similarity.py, probe seed 0, default settings) scikit-learn's digits,
the built-in synthetic shapes, MNIST, CIFAR-10, three 10-character Omniglot tasks and three
10-class Tiny ImageNet tasks, and for MNIST and CIFAR-10 a second, disjoint draw of images
(how far a dataset is from itself by sampling alone); prints the distance matrix (markdown) and
checks:

- MNIST is nearer the digits than CIFAR-10 is;
- every Tiny ImageNet task is nearer CIFAR-10 than MNIST;
- every Omniglot task is nearer MNIST than CIFAR-10, and so is the first with its polarity
  flipped (white ink on black, as MNIST);
- each dataset's second draw is nearer its first than any other dataset is.

Data (../shared/data/README.md): MNIST (LeCun, Cortes, Burges), CIFAR-10 (Krizhevsky 2009,
re-encoded JPEG), Omniglot (Lake et al., MIT), Tiny ImageNet (Stanford CS231n, 150 classes).
"""
from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from base_nas.predict import similarity  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
                    "images")


def _omniglot(path: str, n_way: int, seed: int):
  z = np.load(path)
  chars = np.random.default_rng(seed).choice(len(z["images"]), n_way, replace=False)
  images = z["images"][chars].reshape(-1, *z["images"].shape[2:])
  labels = np.repeat(np.arange(n_way), z["images"].shape[1])
  return images.astype(np.uint8) * 255, labels  # True: white background


def _classes(spec: str, n_way: int, seed: int) -> np.ndarray:
  from base_nas.data import open_dataset
  n = open_dataset(spec).num_classes
  return np.random.default_rng(seed).choice(n, n_way, replace=False)


def tasks(data_dir: str, max_images: int) -> dict:
  """``{name: (images, labels)}`` of every task measured."""
  load = similarity.load_task
  mnist = f"npz:{data_dir}/mnist_uint8.npz"
  cifar = f"zip:{data_dir}/cifar10_jpeg.zip"
  tiny = f"zip:{data_dir}/tiny-imagenet-150.zip"
  out = {"digits": load("builtin:digits", max_images=max_images),
         "synthetic": load("builtin:synthetic", max_images=max_images)}
  for name, spec in (("MNIST", mnist), ("CIFAR-10", cifar)):
    # Two disjoint draws: 2 * max_images images (sorted by index, and a folder's index follows
    # its class), shuffled, then halved.
    x, y = load(spec, max_images=2 * max_images)
    order = np.random.default_rng(0).permutation(len(y))
    half = len(y) // 2
    out[name] = x[order[:half]], y[order[:half]]
    out[f"{name} (2nd draw)"] = x[order[half:]], y[order[half:]]
  for t in range(3):
    out[f"Omniglot {t + 1}"] = _omniglot(f"{data_dir}/omniglot/images_background.npz", 10,
                                         seed=t)
    out[f"Tiny ImageNet {t + 1}"] = load(tiny, max_images=max_images, seed=t,
                                         classes=_classes(tiny, 10, seed=100 + t))
  # Omniglot draws dark ink on white, MNIST white on black: the same task with its polarity
  # flipped shows how much of a distance is polarity.
  x, y = out["Omniglot 1"]
  out["Omniglot 1 (inverted)"] = 255 - x, y
  return out


def _check(d, names, near, far, of) -> tuple[str, bool]:
  ok = d[names.index(of), names.index(near)] < d[names.index(of), names.index(far)]
  return (f"d({of}, {near}) = {d[names.index(of), names.index(near)]:.4f} < d({of}, {far}) = "
          f"{d[names.index(of), names.index(far)]:.4f}: {'yes' if ok else 'NO'}"), ok


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--data-dir", default=os.path.normpath(DATA))
  p.add_argument("--max-images", type=int, default=500)
  args = p.parse_args(argv)
  import jax
  try:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
  except OSError:
    commit = "?"
  print(f"benchmarks/similarity.py {' '.join(argv or sys.argv[1:])}: "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, commit {commit}, "
        f"jax {jax.__version__}, {os.cpu_count()} CPUs\n")
  t0 = time.time()
  embeddings = {}
  for name, (x, y) in tasks(args.data_dir, args.max_images).items():
    t = time.time()
    embeddings[name] = similarity.embed_task(x, y, max_images=args.max_images)
    print(f"  {name}: {len(y)} images, {len(np.unique(y))} classes, {time.time() - t:.1f} s",
          file=sys.stderr)
  names = list(embeddings)
  d = np.array([[similarity.distance(embeddings[a], embeddings[b]) for b in names]
                for a in names])
  short = [n.replace(" (2nd draw)", "'").replace("Tiny ImageNet", "TIN").replace(
      "Omniglot", "Omni").replace(" (inverted)", " inv") for n in names]
  print(f"Distances ({len(names)} tasks, {time.time() - t0:.0f} s in all; ' marks a second "
        "draw of the same dataset):\n")
  print("| | " + " | ".join(short) + " |")
  print("|---|" + "---:|" * len(names))
  for i, n in enumerate(short):
    print(f"| {n} | " + " | ".join(f"{v:.3f}" for v in d[i]) + " |")
  checks = [_check(d, names, "MNIST", "CIFAR-10", "digits")]
  for t in range(1, 4):
    checks.append(_check(d, names, "CIFAR-10", "MNIST", f"Tiny ImageNet {t}"))
  for t in range(1, 4):
    checks.append(_check(d, names, "MNIST", "CIFAR-10", f"Omniglot {t}"))
  checks.append(_check(d, names, "MNIST", "CIFAR-10", "Omniglot 1 (inverted)"))
  for name in ("MNIST", "CIFAR-10"):
    i = names.index(f"{name} (2nd draw)")
    others = [j for j in range(len(names)) if names[j] not in (name, names[i])]
    nearest = min(others, key=lambda j: d[i, j])
    ok = d[i, names.index(name)] < d[i, nearest]
    checks.append((f"d({names[i]}, {name}) = {d[i, names.index(name)]:.4f} < nearest other "
                   f"({names[nearest]}) {d[i, nearest]:.4f}: {'yes' if ok else 'NO'}", ok))
  print("\nChecks:\n")
  for text, _ in checks:
    print(f"- {text}")
  print(f"\n{sum(ok for _, ok in checks)} of {len(checks)} checks hold.")


if __name__ == "__main__":
  main()
