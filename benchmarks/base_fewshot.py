"""Table 3 of GitHub issue 13: few-shot classification with the adapted meta-network.

  nice -n 5 .venv/bin/python benchmarks/base_fewshot.py --episodes 100 --steps 2,10 \\
      --out runs/base_fewshot.json

(those are the defaults, apart from --out). No retraining: every episode starts from theta of
the shipped prior `nb201-tiny` (or --prior) and runs the library's inner step
(MetaObjective.inner_step, the step meta-training differentiates through) on the episode's
support set, then scores its query set.

Settings (all at the prior's smaller image size, 16 px):

  omniglot 5w1s / 20w1s  Omniglot evaluation alphabets (images_evaluation.npz, 659 characters,
                         never seen by the prior, which was meta-trained on Tiny ImageNet only).
                         Ink white on black (MNIST-like), 105 px box-filtered down to 16 px,
                         grey copied to RGB, normalised with the pixel statistics of the
                         background alphabets (images_background.npz). No rotation-augmented
                         classes (MAML's protocol adds them; they only matter for training).
  tiny 5w1s / 5w5s       Tiny ImageNet, the 30 classes the prior never meta-trained on (its
                         prior.json "held_out_classes"), train images, the prior's recorded
                         channel statistics: the stand-in for Mini-ImageNet (84 px there).

Every episode has --queries (5) query images a class. The prior's classifier is 10-way; for an
N-way episode the supernet is built N-way and the classifier starts at zero, as `base-nas adapt`
does with adapt.head=zero (train.fit_head plus the zeroed head), so K=0 is chance.

Methods (the same supernet, the same episodes and the same Gumbel noise, a paired comparison):

  BASE (meta-learned)  theta of the prior: meta-learned alphas, weights and per-tensor step
                       sizes (Meta-SGD log_lr).
  untrained            a fresh theta from the initialisation meta-training starts from
                       (PRNGKey(config seed)), the config's initial step sizes
                       (inner_lr_weights, inner_lr_alphas): no meta-training at all.
  maml (--maml PATH)   a prior meta-trained like this one with the architecture frozen at its
                       initial near-uniform logits (experiments/maml_tiny_nb201.py: meta.lr_alphas
                       = meta.inner_lr_alphas = 0): MAML with Meta-SGD step sizes over the same
                       supernet, the same tasks, inner loop and meta-steps. Its episodes adapt
                       the weights only, as it was meta-trained to.

Accuracy is what the library reports on held-out tasks (train.evaluate_tasks): one Concrete
sample of the adapted architecture on the query set, after K full-batch support steps with the
objective's prior terms (beta * KL, Gaussian weight prior). K = --steps (2 = the prior's inner
steps). Prints a markdown table (mean +- 1.96 std / sqrt(episodes)) next to the published
figures and writes --out as JSON (a temporary file renamed into place). Missing data: one line,
exit 2.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# (name, dataset, way, shots)
SETTINGS = (("omniglot-5w1s", "omniglot", 5, 1), ("omniglot-20w1s", "omniglot", 20, 1),
            ("tiny-5w1s", "tiny", 5, 1), ("tiny-5w5s", "tiny", 5, 5))
# Published figures (%): MAML (Finn et al. 2017) on Omniglot / Mini-ImageNet, BASE (Shaw et al.
# 2019) on Mini-ImageNet 5-way 5-shot.
PUBLISHED = {"omniglot-5w1s": {"MAML": 98.7}, "omniglot-20w1s": {"MAML": 95.8},
             "tiny-5w1s": {"MAML": 48.7}, "tiny-5w5s": {"MAML": 63.1, "BASE": 66.2}}
METHODS = ("meta-learned", "untrained")


def _fail(msg: str):
  print(f"base_fewshot: {msg}", file=sys.stderr)
  sys.exit(2)


def _abs(path: str) -> str:
  return path if os.path.isabs(path) else os.path.normpath(os.path.join(ROOT, path))


def _omniglot_pixels(path: str, size: int, limit: int | None = None):
  """``(uint8 [chars*20, size, size], labels)``: ink 255 on a black background."""
  from PIL import Image
  with np.load(path) as z:
    images, labels = z["images"], z["labels"]
  flat = images.reshape(-1, images.shape[-2], images.shape[-1])
  flat_labels = labels.reshape(-1).astype(np.int64)
  if limit:
    flat, flat_labels = flat[:limit], flat_labels[:limit]
  out = np.empty((len(flat), size, size), np.uint8)
  for i, im in enumerate(flat):
    # True = background: invert so that ink is bright; the box filter keeps thin strokes as grey
    # instead of dropping them as a point sample would.
    ink = Image.fromarray(np.where(im, 0, 255).astype(np.uint8))
    out[i] = np.asarray(ink.resize((size, size), Image.BOX))
  return out, flat_labels


def omniglot_sampler_parts(data_dir: str, size: int):
  from base_nas.data.sources import ArraySource
  ev = os.path.join(data_dir, "images_evaluation.npz")
  bg = os.path.join(data_dir, "images_background.npz")
  for p in (ev, bg):
    if not os.path.exists(p):
      _fail(f"Omniglot file {p} is missing (see ../shared/data/README.md)")
  pixels, labels = _omniglot_pixels(ev, size)
  # Statistics from the background alphabets only (a few thousand images suffice), so nothing
  # about the evaluation characters leaks into the normalisation.
  bg_pixels, _ = _omniglot_pixels(bg, size, limit=4000)
  mean = float(bg_pixels.mean()) / 255.0
  std = float(bg_pixels.std()) / 255.0
  source = ArraySource("omniglot:evaluation", labels, images=pixels)
  return source, sorted(int(c) for c in np.unique(labels)), [mean] * 3, [std] * 3


def tiny_sampler_parts(record):
  from base_nas.meta.prior import held_out_source
  source, classes = held_out_source(record, ROOT)
  return source, classes, record["mean"], record["std"]


class WayModel:
  """The prior's supernet built ``way``-way, its objective, and the two thetas."""

  def __init__(self, record, prior_theta, way: int, others=None):
    import dataclasses
    import jax
    from base_nas import spaces
    from base_nas.config import Config
    from base_nas.meta.learner import MetaLearner
    from base_nas.meta.objective import MetaObjective
    from base_nas.meta.train import build_model, fit_head, inner_config, outer_config
    cfg = record["config"]
    config = Config(cfg)
    m = config.meta
    inner = dataclasses.replace(inner_config(m), order="first")
    self.model = build_model(config, way)
    learner = MetaLearner(self.model, spaces.get_space(cfg["space"]), m.relaxation, inner,
                          outer_config(m), seed=cfg["seed"])
    size0 = cfg["tasks"]["image_sizes"][0]
    # run_meta_train's initial state at this way: the untrained baseline and the head template.
    fresh = jax.device_get(learner.init(jax.random.PRNGKey(cfg["seed"]),
                                        (size0, size0, 3)).theta)
    zero = lambda t: jax.tree_util.tree_map_with_path(
        lambda p, a: np.zeros_like(a) if "classifier" in jax.tree_util.keystr(p) else a, t)
    meta = zero(fit_head(prior_theta, jax.tree.map(np.zeros_like, fresh)))
    # One tree structure and dtype for both, so one compiled program serves both methods.
    f32 = lambda t: jax.tree.map(lambda a: np.asarray(a, np.float32), t)
    self.thetas = {"meta-learned": f32(meta), "untrained": f32(zero(fresh))}
    for name, t in (others or {}).items():
      self.thetas[name] = f32(zero(fit_head(t, jax.tree.map(np.zeros_like, fresh))))
    self.objective = MetaObjective(self.model.apply, m.relaxation, inner)
    self.tau = float(m.tau)


def make_eval(objective, kmax: int, tau: float):
  """A jitted ``(theta, episodes, keys) -> query accuracy [episodes, kmax]`` (after each step)."""
  import jax
  import jax.numpy as jnp
  from base_nas.meta.objective import prior_of

  def one(theta, xs):
    task, key = xs
    keys = jax.random.split(key, kmax + 1)
    inner, qkey = keys[:-1], keys[-1]
    prior = prior_of(theta)

    def body(state, k):
      state, _ = objective.inner_step(theta, state, task["support"], k, tau)
      # The same query noise at every K, so the columns differ only by the adaptation.
      _, met = objective.loss(state, prior, task["query"], qkey, tau)
      return state, met["accuracy"]

    _, accs = jax.lax.scan(body, prior, inner)
    return accs

  return jax.jit(lambda theta, tasks, keys: jax.lax.map(lambda xs: one(theta, xs),
                                                        (tasks, keys)))


def _stats(values: np.ndarray) -> dict:
  half = 1.96 * values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
  return {"mean": float(values.mean()), "ci95": float(half), "n": int(len(values))}


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--prior", default="nb201-tiny")
  p.add_argument("--episodes", type=int, default=100, help="episodes a setting")
  p.add_argument("--steps", default="2,10", help="inner steps K to report")
  p.add_argument("--queries", type=int, default=5, help="query images a class")
  p.add_argument("--settings", default=",".join(s[0] for s in SETTINGS))
  p.add_argument("--omniglot-dir", default=os.path.join(ROOT, "..", "shared", "data", "images",
                                                        "omniglot"))
  p.add_argument("--size", type=int, default=16, help="image side length")
  p.add_argument("--chunk", type=int, default=25, help="episodes a compiled call")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--maml", default=None, help="a prior meta-trained with the architecture "
                 "frozen (experiments/maml_tiny_nb201.py): adds the maml method")
  p.add_argument("--out", default=None, help="JSON results file")
  a = p.parse_args(argv)
  t_start = time.time()
  steps = sorted({int(x) for x in a.steps.split(",") if x.strip()})
  if not steps or steps[0] < 1:
    _fail("--steps must list positive inner step counts")
  chosen = [s for s in SETTINGS if s[0] in a.settings.split(",")]
  if not chosen:
    _fail(f"no known setting in --settings {a.settings!r}")
  import jax
  from base_nas.errors import ConfigError, DataError
  from base_nas.meta import prior as prior_lib
  from base_nas.meta.tasks import episode_sampler
  from base_nas.runs import atomic_write, dumps
  try:
    theta, record = prior_lib.load_prior(prior_lib.resolve(a.prior))
  except ConfigError as e:
    _fail(str(e))
  methods, others = list(METHODS), {}
  if a.maml:
    try:
      others["maml"], maml_record = prior_lib.load_prior(prior_lib.resolve(a.maml))
      prior_lib.check_same_split(record, maml_record, a.maml)
    except ConfigError as e:
      _fail(f"--maml: {e}")
    methods.append("maml")
  n_params = int(sum(np.size(x) for x in jax.tree.leaves(theta["params"])))
  print(f"{a.prior}: {n_params:,} supernet parameters ({record['config']['tasks']['way']}-way "
        f"head), {record.get('meta_steps')} meta-steps in {record.get('wall_seconds', '?')} s"
        + (f"; maml {a.maml}: {maml_record.get('meta_steps')} meta-steps in "
           f"{maml_record.get('wall_seconds', '?')} s" if a.maml else ""),
        flush=True)

  parts, models, results, wall = {}, {}, {}, {}
  for name, data, way, shots in chosen:
    try:
      if data not in parts:
        parts[data] = (omniglot_sampler_parts(_abs(a.omniglot_dir), a.size) if data == "omniglot"
                       else tiny_sampler_parts(record))
      source, classes, mean, std = parts[data]
      # Episode i is a pure function of (seed, i): a rerun or another method sees the same.
      sampler = episode_sampler(source, classes, way, shots, a.queries, a.size, mean=mean,
                                std=std, seed=a.seed)
    except DataError as e:
      _fail(str(e))
    if way not in models:
      wm = WayModel(record, theta, way, others)
      models[way] = (wm, make_eval(wm.objective, max(steps), wm.tau))
    wm, evaluate = models[way]
    accs = {m: [] for m in methods}
    t = time.time()
    for c0 in range(0, a.episodes, a.chunk):
      ids = list(range(c0, min(a.episodes, c0 + a.chunk)))
      eps = [sampler.task(i) for i in ids]
      tasks = {part: {k: np.stack([e[part][k] for e in eps]) for k in ("image", "label")}
               for part in ("support", "query")}
      # Episode i's Gumbel noise from (seed, i) alone: the same for every method.
      keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(a.seed), i))(
          np.asarray(ids, np.int32))
      for m in methods:
        accs[m].append(np.asarray(jax.device_get(evaluate(wm.thetas[m], tasks, keys))))
    wall[name] = time.time() - t
    results[name] = {}
    for m in methods:
      av = np.concatenate(accs[m])
      results[name][m] = {str(k): _stats(av[:, k - 1]) for k in steps}
      results[name][m]["per_episode"] = {str(k): av[:, k - 1].tolist() for k in steps}
    print(f"{name}: " + "; ".join(
        f"{m} " + ", ".join(f"K={k} {100 * results[name][m][str(k)]['mean']:.1f}%"
                            for k in steps) for m in methods)
        + f" ({wall[name]:.0f} s)", flush=True)

  total = time.time() - t_start
  print(f"\nFew-shot query accuracy (%), {a.prior} adapted without retraining, {a.episodes} "
        f"episodes a setting, {a.queries} queries a class, {a.size} px: mean +- 95% interval "
        "(1.96 std / sqrt(episodes))\n")
  head = [f"{m} K={k}" for m in methods for k in steps]
  print("| setting | chance | " + " | ".join(head) + " | published MAML | published BASE | s |")
  print("|---|---|" + "---|" * len(head) + "---|---|---|")
  for name, _, way, _ in chosen:
    cells = [f"{100 * results[name][m][str(k)]['mean']:.1f} +- "
             f"{100 * results[name][m][str(k)]['ci95']:.1f}" for m in methods for k in steps]
    pub = PUBLISHED.get(name, {})
    print(f"| {name} | {100 / way:.0f} | " + " | ".join(cells)
          + f" | {pub.get('MAML', '-')} | {pub.get('BASE', '-')} | {wall[name]:.0f} |")
  print("\npublished: MAML (Finn et al. 2017) Omniglot 28 px and Mini-ImageNet 84 px, BASE "
        "(Shaw et al. 2019) Mini-ImageNet; here tiny-* is Tiny ImageNet held-out classes at "
        f"{a.size} px, a stand-in, not Mini-ImageNet. untrained = the same supernet from a fresh "
        "init" + ("; maml = meta-trained with the architecture frozen." if a.maml else
                  ", not a meta-trained MAML (pass --maml PATH for that)."))
  print(f"wall time {total:.0f} s in all (with data loading and compiling)")
  if a.out:
    atomic_write(a.out, dumps({"prior": a.prior, "maml": a.maml, "parameters": n_params,
                               "meta_seconds": record.get("wall_seconds"),
                               "episodes": a.episodes, "queries": a.queries,
                               "image_size": a.size, "steps": steps, "seed": a.seed,
                               "results": results, "published": PUBLISHED,
                               "eval_seconds": wall, "seconds": total}))
  return 0


if __name__ == "__main__":
  sys.exit(main())
