"""Task similarity: a Task2Vec-like embedding of an image-classification task, and its distances.

A task (images and labels) is embedded by a small fixed probe network (Achille et al. 2019,
"Task2Vec"): four 3x3 conv layers of 16, 32, 32 and 32 channels with weights drawn from
``probe_seed`` (the same for every task, so embeddings are comparable), on images resized to
32 px (grey ones repeated to three channels) and scaled by one fixed mean and std (not the
task's own: brightness and contrast are part of what tells datasets apart). Then:

1. a linear classifier head on the probe's pooled features is fitted to the task's labels (a
   few hundred Adam steps on precomputed features: CPU seconds);
2. the diagonal Fisher information of the conv weights, ``E_x E_{y ~ p(y|x)} [g^2]`` with ``g``
   the per-example gradient of ``log p(y|x)``, is estimated from a few labels sampled from the
   model's own predictions for each image (Task2Vec's choice: the true labels would measure
   the fit, not the task);
3. the Fisher values of each filter are averaged (one number a filter, 112 in all), and the
   vector is scaled to sum to one.

:func:`distance` is Task2Vec's normalised cosine distance, ``1 - cos(a / (a + b), b / (a + b))``
(element-wise division). Why normalised: the Fisher's overall scale grows with how confident
the head is and how many classes there are, and a few filters with large Fisher values would
dominate a plain cosine. So each embedding is first scaled to sum to one (the distance is blind
to its overall scale), and each coordinate is then divided by the pair's sum, which compares
the *relative* sensitivity of every filter so that each counts alike; the distance is 0 for a
task to itself and symmetric.

The probe is random, not trained on ImageNet as Task2Vec's is (no such weights ship offline),
so the embedding sees low-level statistics (strokes, colour, texture) more than semantics;
docs/similarity.md measures what it separates.

:func:`run_similar` embeds a config's dataset and ranks candidate tasks by distance: the
meta-training sources of the shipped priors and any data specs in ``similar.candidates``. A
prior directory may hold its source's embedding (``embedding.json``, :func:`embed_prior`), so
that it is ranked where its source data is not (a fresh install); :func:`nearest_prior` picks
the nearest such prior for ``prior=nearest`` in ``adapt`` and ``infer``.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Mapping, Sequence

import numpy as np

from base_nas.errors import SimilarityError

CHANNELS = (16, 32, 32, 32)
STRIDES = (1, 2, 2, 2)
IMAGE_SIZE = 32
MIN_IMAGES = 10
# One fixed normalisation for every task, roughly that of natural images in [0, 1].
_MEAN, _STD = 0.45, 0.25


def _check(images, labels) -> tuple[np.ndarray, np.ndarray]:
  x = np.asarray(images)
  y = np.asarray(labels)
  if x.ndim == 3:  # [N, H, W] grey
    x = x[..., None]
  if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
    raise SimilarityError(f"images must be [N, H, W, C] with C in 1, 3 or 4, got shape {x.shape}")
  if y.shape != (len(x),):
    raise SimilarityError(f"labels must be one per image: {len(x)} images, labels of shape "
                          f"{y.shape}")
  if len(x) < MIN_IMAGES:
    raise SimilarityError(f"{len(x)} images are too few to embed a task; at least {MIN_IMAGES} "
                          "are needed")
  if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
    raise SimilarityError("images contain NaN or infinite values")
  classes = np.unique(y)
  if len(classes) < 2:
    raise SimilarityError(f"the task has {len(classes)} class; at least 2 are needed to fit a "
                          "classifier")
  return x, np.searchsorted(classes, y)


def _prepare(x: np.ndarray, size: int) -> np.ndarray:
  """[N, size, size, 3] float32, normalised by the fixed mean and std."""
  from base_nas.data.pipeline import resize_batch
  from base_nas.data.sources import to_rgb
  rgb = [to_rgb(im) for im in x]
  out = resize_batch(np.stack(rgb) if len({im.shape for im in rgb}) == 1 else rgb, size)
  return ((out.astype(np.float32) / 255.0 - _MEAN) / _STD).astype(np.float32)


def probe_params(seed: int = 0) -> list:
  """The probe's conv weights ``[(w [3, 3, in, out], b [out]), ...]``: He-normal, from ``seed``."""
  rng = np.random.default_rng(seed)
  params, n_in = [], 3
  for n_out in CHANNELS:
    w = rng.normal(0.0, np.sqrt(2.0 / (9 * n_in)), (3, 3, n_in, n_out)).astype(np.float32)
    params.append((w, np.zeros(n_out, np.float32)))
    n_in = n_out
  return params


def _features(params, x, eps=None):
  """Pooled features [N, CHANNELS[-1]] of images x [N, H, W, 3], and each conv layer's input.

  ``eps``: zeros added to each layer's pre-activation, whose gradient is the per-example
  gradient of that pre-activation (see :func:`_fisher`).
  """
  import jax
  h, inputs = x, []
  for i, ((w, b), s) in enumerate(zip(params, STRIDES)):
    inputs.append(h)
    h = jax.lax.conv_general_dilated(h, w, (s, s), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC")) + b
    h = jax.nn.relu(h + eps[i] if eps is not None else h)
  return h.mean(axis=(1, 2)), inputs


def _fit_head(feats: np.ndarray, labels: np.ndarray, classes: int, steps: int, seed: int):
  """A softmax head on fixed features by full-batch Adam; features are standardised first."""
  import jax
  import jax.numpy as jnp
  import optax
  mu, sd = feats.mean(0), feats.std(0) + 1e-6
  f = jnp.asarray((feats - mu) / sd)
  y = jnp.asarray(labels)
  tx = optax.adamw(optax.cosine_decay_schedule(0.05, steps), weight_decay=1e-3)
  head = (jnp.zeros((f.shape[1], classes)), jnp.zeros(classes))

  def loss(head):
    logits = f @ head[0] + head[1]
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))

  def step(carry, _):
    head, opt = carry
    g = jax.grad(loss)(head)
    u, opt = tx.update(g, opt, head)
    return (optax.apply_updates(head, u), opt), None

  (head, _), _ = jax.lax.scan(step, (head, tx.init(head)), None, length=steps)
  # The standardisation folded into the head, so it applies to the probe's raw features.
  w = head[0] / jnp.asarray(sd)[:, None]
  return w, head[1] - jnp.asarray(mu) @ w


def _fisher_chunk(x, mask, key, params, head, samples: int):
  """Summed per-filter Fisher of one chunk of images (``mask``: 0 for padding)."""
  import jax
  import jax.numpy as jnp

  def log_lik(eps, ys):
    feats, inputs = _features(params, x, eps)
    logp = jax.nn.log_softmax(feats @ head[0] + head[1])
    return jnp.take_along_axis(logp, ys[:, None], 1).sum(), inputs

  feats, inputs = _features(params, x)
  logits = feats @ head[0] + head[1]
  # The pre-activations have the shapes of the next layer's inputs, and the last the output's.
  shapes = [i.shape[:3] for i in inputs[1:]]
  shapes.append((x.shape[0], -(-inputs[-1].shape[1] // STRIDES[-1]),
                 -(-inputs[-1].shape[2] // STRIDES[-1])))
  zeros = [jnp.zeros((*sh, w.shape[-1])) for sh, (w, _) in zip(shapes, params)]
  total = [jnp.zeros(w.shape[-1]) for w, _ in params]
  for k in jax.random.split(key, samples):
    ys = jax.random.categorical(k, logits)
    deltas, _ = jax.grad(log_lik, has_aux=True)(zeros, ys)
    for i, ((w, _), s) in enumerate(zip(params, STRIDES)):
      patches = jax.lax.conv_general_dilated_patches(
          inputs[i], w.shape[:2], (s, s), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
      g = jnp.einsum("nhwk,nhwc->nkc", patches, deltas[i])  # per-example weight gradients
      total[i] = total[i] + (mask[:, None] * jnp.mean(g ** 2, axis=1)).sum(0)
  return [t / samples for t in total]


_jit_cache = {}


def _fisher(params, head, x: np.ndarray, samples: int, seed: int, chunk: int = 128
            ) -> np.ndarray:
  """Per-filter mean of the diagonal Fisher of the conv weights, over images and sampled labels.

  A conv weight's per-example gradient is ``patches^T @ delta``: the layer's input patches
  times the gradient of its pre-activation. One backward pass of the summed log-likelihood
  gives every example's delta at once, so the per-example gradients cost one einsum a layer
  instead of a backward pass an example.
  """
  import jax
  import jax.numpy as jnp
  if "fisher" not in _jit_cache:
    _jit_cache["fisher"] = jax.jit(_fisher_chunk, static_argnums=5)
  fn = _jit_cache["fisher"]
  keys = jax.random.split(jax.random.PRNGKey(seed), -(-len(x) // chunk))
  total = np.zeros(sum(CHANNELS))
  for j, start in enumerate(range(0, len(x), chunk)):
    # Every chunk padded to one shape (padding masked out): one compilation for all tasks.
    xs = x[start:start + chunk]
    mask = np.zeros(chunk, np.float32)
    mask[:len(xs)] = 1
    xs = np.concatenate([xs, np.zeros((chunk - len(xs), *xs.shape[1:]), xs.dtype)])
    total += np.concatenate([np.asarray(p, np.float64) for p in fn(
        jnp.asarray(xs), jnp.asarray(mask), keys[j], params, head, samples)])
  return total / len(x)


def embed_task(images, labels, *, probe_seed: int = 0, steps: int = 300,
               max_images: int = 500, samples: int = 2, image_size: int = IMAGE_SIZE,
               seed: int = 0) -> np.ndarray:
  """The task's embedding: the probe's filter-averaged diagonal Fisher, summing to one.

  Args:
    images: [N, H, W, C] (or [N, H, W]) uint8 in 0..255 or float in [0, 1]; any size, C 1, 3 or 4.
    labels: [N] class labels, any integers; at least two distinct.
    probe_seed: the probe's weights; embeddings are comparable only under the same seed.
    steps: Adam steps fitting the classifier head.
    max_images: at most this many images, a random choice by ``seed``, are used.
    samples: labels drawn from the model's predictions per image for the Fisher.
    image_size: images are resized to this.
    seed: picks the images and the sampled labels.

  Returns:
    float64 array of ``sum(CHANNELS)`` non-negative values summing to 1.

  Raises:
    SimilarityError: fewer than 10 images or 2 classes, NaN images, wrong shapes.
  """
  import jax.numpy as jnp
  x, y = _check(images, labels)
  if max_images and len(x) > max_images:
    pick = np.sort(np.random.default_rng(seed).permutation(len(x))[:max_images])
    x, y = x[pick], y[pick]
    if len(np.unique(y)) < 2:
      raise SimilarityError(f"max_images={max_images} leaves one class; raise it")
  y = np.unique(y, return_inverse=True)[1]
  x = _prepare(x, image_size)
  params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in probe_params(probe_seed)]
  feats = np.concatenate([np.asarray(_features(params, jnp.asarray(x[i:i + 256]))[0])
                          for i in range(0, len(x), 256)])
  head = _fit_head(feats, y, int(y.max()) + 1, steps, seed)
  fisher = _fisher(params, head, x, samples, seed)
  total = fisher.sum()
  if not np.isfinite(total) or total <= 0:
    raise SimilarityError("the probe's Fisher information is zero or not finite for this task "
                          "(constant images?)")
  return fisher / total


def distance(a, b) -> float:
  """Task2Vec's normalised cosine distance, in [0, 1].

  Each embedding is first scaled to sum to one, then ``1 - cos(a / (a + b), b / (a + b))``
  (element-wise division).
  """
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if a.shape != b.shape or a.ndim != 1:
    raise SimilarityError(f"embeddings must be 1-D of one length, got shapes {a.shape} and "
                          f"{b.shape} (made with another probe?)")
  if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))) or a.min() < 0 or b.min() < 0:
    raise SimilarityError("embeddings must be finite and non-negative (Fisher values)")
  if a.sum() == 0 or b.sum() == 0:
    raise SimilarityError("an embedding is all zeros")
  a, b = a / a.sum(), b / b.sum()
  s = a + b
  s = np.where(s > 0, s, 1.0)
  u, v = a / s, b / s
  return float(np.clip(1.0 - u @ v / (np.linalg.norm(u) * np.linalg.norm(v)), 0.0, 1.0))


def rank(target, candidates: Mapping[str, Any]) -> list[tuple[str, float]]:
  """``[(name, distance to target), ...]``, nearest first (ties by name)."""
  return sorted(((name, distance(target, e)) for name, e in candidates.items()),
                key=lambda t: (t[1], t[0]))


# ---------------------------------------------------------------------------------------------
# Data specs and the `similar` command


def load_task(spec: str, data_dir: str | None = None, *, max_images: int = 500, seed: int = 0,
              classes: Sequence[int] | None = None, limit: int = 0,
              image_size: int = IMAGE_SIZE) -> tuple[np.ndarray, np.ndarray]:
  """``(images, labels)`` from the train split of a data spec: at most ``max_images``, a seeded
  random choice, from ``classes`` only when given (and from the first ``limit`` of a seeded
  order when ``limit`` is set, as the other commands read ``data.limit``)."""
  from base_nas.data import open_dataset
  source = open_dataset(spec, data_dir).train_split()
  labels = np.asarray(source.labels)
  rng = np.random.default_rng(seed)
  idx = rng.permutation(len(labels))
  if limit:
    idx = idx[:limit]
  if classes is not None:
    idx = idx[np.isin(labels[idx], np.asarray(list(classes)))]
  idx = np.sort(idx[:max_images] if max_images else idx)
  images, y = source.get_batch(idx)
  from base_nas.data.pipeline import resize_batch
  # Folder images may differ in size: resized here so they stack.
  return resize_batch(images, image_size) if isinstance(images, list) else images, np.asarray(y)


def _prior_spec_path(spec: str) -> str:
  """A prior's relative data path is relative to where it was made (the repository root)."""
  scheme, sep, rest = spec.partition(":")
  if sep and scheme in ("zip", "npz", "folder") and not os.path.isabs(rest):
    if not os.path.exists(rest):
      root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
      if os.path.exists(os.path.join(root, rest)):
        return f"{scheme}:{os.path.join(root, rest)}"
  return spec


def _prior_candidate(name: str, path: str) -> dict:
  """A prior's meta-training source as a candidate: spec, classes, way, its stored embedding."""
  from base_nas.meta import prior as prior_lib
  record = prior_lib.read_record(path)
  spec = record.get("source") or record.get("config", {}).get("data", {}).get("spec")
  return dict(name=f"prior:{name}", spec=spec and _prior_spec_path(spec), path=path,
              space=record.get("space"), classes=record.get("classes"), way=record.get("way"),
              data_dir=record.get("config", {}).get("data", {}).get("data_dir"),
              stored=read_embedding(path))


def _prior_candidates() -> list[dict]:
  from base_nas.meta import prior as prior_lib
  return [_prior_candidate(n, p) for n, p in prior_lib.shipped_priors().items()]


EMBEDDING_FILE = "embedding.json"
# What an embedding depends on besides the data: two compare only when these agree.
_SETTING_KEYS = ("probe_seed", "steps", "max_images", "samples", "tasks", "image_size")


def _settings(s: Mapping[str, Any], seed: int) -> dict:
  return dict({k: int(s[k]) for k in _SETTING_KEYS}, seed=int(seed))


def read_embedding(prior_path: str) -> dict | None:
  """``{embedding, settings}`` stored in a prior directory, or None (none, or unreadable)."""
  import json
  try:
    with open(os.path.join(prior_path, EMBEDDING_FILE)) as f:
      d = json.load(f)
    e = np.asarray(d["embedding"], np.float64)
    settings = {k: int(d["settings"][k]) for k in _SETTING_KEYS + ("seed",)}
  except (OSError, ValueError, KeyError, TypeError):
    return None
  if e.ndim != 1 or len(e) != sum(CHANNELS) or not np.all(np.isfinite(e)) or (e < 0).any():
    return None
  return {"embedding": e, "settings": settings}


def embed_prior(prior_path: str, *, seed: int = 0, **settings) -> dict:
  """Embeds a prior's meta-training source (its data must be readable here) and stores the
  result in the prior directory as ``embedding.json`` (written to a temporary name, renamed).

  ``settings`` override :data:`DEFAULTS` (and ``image_size``: :data:`IMAGE_SIZE`).
  """
  from base_nas.runs import atomic_write, dumps
  s = dict(DEFAULTS, image_size=IMAGE_SIZE, **settings)
  c = _prior_candidate(os.path.basename(os.path.normpath(prior_path)), prior_path)
  if not c["spec"]:
    raise SimilarityError(f"prior {prior_path!r}: its record names no data source to embed")
  e = _embed_spec(c, s, seed)
  out = {"embedding": [float(v) for v in e], "settings": _settings(s, seed),
         "source": c["spec"]}
  atomic_write(os.path.join(prior_path, EMBEDDING_FILE), dumps(out) + "\n")
  return {"embedding": e, "settings": out["settings"]}


def _embed_spec(c: Mapping[str, Any], s: Mapping[str, Any], seed: int, limit: int = 0
                ) -> np.ndarray:
  """One candidate's embedding; a prior's is the mean over ``s.tasks`` of its ``way``-class
  tasks, since its meta-training saw ``way``-class tasks, not all its classes at once."""
  kw = dict(probe_seed=s["probe_seed"], steps=s["steps"], max_images=s["max_images"],
            samples=s["samples"], seed=seed, image_size=s["image_size"])
  classes, way = c.get("classes"), c.get("way")
  if classes and way:
    rng = np.random.default_rng(seed)
    draws = []
    for t in range(s["tasks"]):
      chosen = rng.choice(np.asarray(classes), size=min(int(way), len(classes)), replace=False)
      x, y = load_task(c["spec"], c.get("data_dir"), max_images=s["max_images"], seed=seed + t,
                       classes=chosen, limit=limit, image_size=s["image_size"])
      draws.append(embed_task(x, y, **kw))
    e = np.mean(draws, axis=0)
    return e / e.sum()
  x, y = load_task(c["spec"], c.get("data_dir"), max_images=s["max_images"], seed=seed,
                   limit=limit, image_size=s["image_size"])
  return embed_task(x, y, **kw)


DEFAULTS = dict(candidates=[], priors=True, steps=300, max_images=500, samples=2, tasks=3,
                probe_seed=0)


def run_similar(cfg, workdir: str, *, progress: bool = True) -> dict:
  """Embeds ``cfg.data.spec`` and ranks the candidates by distance; writes summary.json.

  Candidates: the shipped priors' meta-training sources (``similar.priors``) and the data specs
  in ``similar.candidates``. One whose data cannot be read here (a prior's source is not
  shipped) is listed under ``skipped`` with the reason, not an error.

  Returns:
    the summary: ``dataset``, ``ranking`` ([{name, spec, distance}], nearest first),
    ``skipped`` ([{name, spec, reason}]), ``embedding`` (the target's), settings, seconds.
  """
  from base_nas.runs import atomic_write, dumps
  t0 = time.time()
  s = dict(DEFAULTS, **dict(cfg.get("similar") or {}))
  data = cfg["data"]
  s["image_size"] = int(data.get("image_size") or IMAGE_SIZE)
  seed = int(cfg.get("seed", 0))
  say = (lambda m: print(m, file=sys.stderr)) if progress else (lambda m: None)
  if not isinstance(s["candidates"], (list, tuple)):
    raise SimilarityError(f"similar.candidates={s['candidates']!r}: must be a list of data specs")
  for k in ("steps", "max_images", "samples", "tasks", "image_size"):
    if not isinstance(s[k], int) or s[k] < 1:
      raise SimilarityError(f"similar.{k}={s[k]!r}: must be a positive integer")
  say(f"embedding {data['spec']}")
  target = _embed_spec(dict(spec=data["spec"], data_dir=data.get("data_dir")), s, seed,
                       limit=int(data.get("limit") or 0))
  candidates = (_prior_candidates() if s["priors"] else []) + [
      dict(name=spec, spec=spec) for spec in s["candidates"]]
  ranking, skipped = _rank(target, candidates, s, seed, say)
  summary = dict(dataset=data["spec"], ranking=ranking, skipped=skipped,
                 embedding=[float(v) for v in target],
                 settings=dict(s, candidates=list(s["candidates"])),
                 seconds=round(time.time() - t0, 1))
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, "summary.json")
  atomic_write(path, dumps(summary) + "\n")
  summary["files"] = {"summary": path}
  return summary


def _rank(target, candidates, s, seed: int, say) -> tuple[list[dict], list[dict]]:
  """``(ranking nearest first, skipped)``: a candidate's stored embedding is used when it was
  made under these settings, else its data is embedded (and skipped when it cannot be read)."""
  from base_nas.errors import DataError, UserError
  ranking, skipped = [], []
  key = _settings(s, seed)
  for c in candidates:
    stored = c.get("stored")
    if stored and stored["settings"] == key:
      ranking.append(dict(name=c["name"], spec=c["spec"], stored=True,
                          distance=distance(target, stored["embedding"])))
      continue
    if not c.get("spec"):
      skipped.append(dict(name=c["name"], spec=None, reason="its record names no data spec"))
      continue
    say(f"embedding {c['name']} ({c['spec']})")
    try:
      e = _embed_spec(c, s, seed)
    except UserError as err:  # e.g. a prior's source data is not on this machine
      why = "its data is not available here" if isinstance(err, DataError) else "not embedded"
      skipped.append(dict(name=c["name"], spec=c["spec"], reason=f"{why} ({err})"))
      continue
    ranking.append(dict(name=c["name"], spec=c["spec"], distance=distance(target, e)))
  ranking.sort(key=lambda r: (r["distance"], r["name"]))
  return ranking, skipped


def nearest_prior(spec: str, data_dir: str | None = None, *, limit: int = 0,
                  space: str | None = None, priors: Mapping[str, str] | None = None,
                  progress: bool = True) -> dict:
  """The shipped prior (of ``space``, when given) whose meta-training source is nearest to the
  dataset ``spec``: what ``prior=nearest`` resolves to in ``adapt`` and ``infer``. ``priors``
  (``{name: directory}``) replaces the shipped ones.

  The dataset is embedded as the priors' sources were: under the settings their stored
  embeddings were made with, averaged over tasks of their way (``similar.tasks`` of them).

  Returns:
    ``{name, path, distance, ranking, skipped, seconds}``, ranking as in :func:`run_similar`.

  Raises:
    ConfigError: no shipped prior (of that space) can be compared with the dataset.
  """
  from base_nas.errors import ConfigError
  from base_nas.meta import prior as prior_lib
  t0 = time.time()
  say = (lambda m: print(m, file=sys.stderr)) if progress else (lambda m: None)
  shipped = dict(prior_lib.shipped_priors() if priors is None else priors)
  cands = [c for c in (_prior_candidate(n, p) for n, p in shipped.items())
           if space is None or c["space"] == space]
  if not cands:
    raise ConfigError("prior=nearest: no shipped prior" + (f" of space {space!r}" if space
                                                             else "") + " to choose from")
  # Each prior is compared under the settings its embedding was stored with, and with the
  # dataset cut into tasks of the prior's way as its source was (the Fisher depends on the class
  # count); the dataset is embedded once per distinct (settings, way). A prior without a stored
  # embedding is embedded from its source, where that is readable.
  from base_nas.data import open_dataset
  ids = np.unique(np.asarray(open_dataset(spec, data_dir).train_split().labels)).tolist()
  groups: dict[str, tuple[dict, int, list]] = {}
  default = _settings(dict(DEFAULTS, image_size=IMAGE_SIZE), 0)
  for c in cands:
    key = c["stored"]["settings"] if c.get("stored") else default
    way = int(c.get("way") or len(ids))
    groups.setdefault(repr((sorted(key.items()), way)), (key, way, []))[2].append(c)
  ranking, skipped = [], []
  for key, way, group in groups.values():
    s = dict(DEFAULTS, **{k: key[k] for k in _SETTING_KEYS})
    say(f"prior=nearest: embedding {spec} in {way}-class tasks")
    target = _embed_spec(dict(spec=spec, data_dir=data_dir, classes=ids, way=way), s,
                         key["seed"], limit=limit)
    r, sk = _rank(target, group, s, key["seed"], say)
    ranking += r
    skipped += sk
  ranking.sort(key=lambda r: (r["distance"], r["name"]))
  if not ranking:
    raise ConfigError(f"prior=nearest: no shipped prior can be compared with {spec}: "
                      + "; ".join(f"{r['name']} {r['reason']}" for r in skipped))
  name = ranking[0]["name"].split(":", 1)[1]
  return dict(name=name, path=shipped[name], distance=ranking[0]["distance"], ranking=ranking,
              skipped=skipped, seconds=round(time.time() - t0, 1))


def print_summary(summary: Mapping[str, Any], stream=None) -> None:
  """The ranking as a few lines of text."""
  stream = stream or sys.stdout
  print(f"\nTasks nearest to {summary['dataset']} (Task2Vec-like normalised cosine distance, "
        f"{summary['seconds']:.0f} s):", file=stream)
  if not summary["ranking"]:
    print("  no candidate could be embedded", file=stream)
  for i, r in enumerate(summary["ranking"]):
    shown = r["name"] if r["name"] == r["spec"] else f"{r['name']} ({r['spec']})"
    shown += ", stored embedding" if r.get("stored") else ""
    print(f"  {i + 1}. {r['distance']:.4f}  {shown}", file=stream)
  for r in summary["skipped"]:
    print(f"  skipped {r['name']}: {r['reason']}", file=stream)
  for name, path in summary.get("files", {}).items():
    print(f"  {name}: {path}", file=stream)
