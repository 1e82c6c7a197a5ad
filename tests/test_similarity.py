"""Task similarity: the probe embedding separates datasets, the distance's properties, input
checks, and ``run_similar``'s summary."""
import json

import numpy as np
import pytest

from base_nas.config import Config
from base_nas.configs import similar_config
from base_nas.errors import SimilarityError, UserError
from base_nas.predict import similarity

FAST = dict(steps=100, max_images=200)


@pytest.fixture(scope="module")
def digits():
  return similarity.load_task("builtin:digits", max_images=400, seed=0)


@pytest.fixture(scope="module")
def embeddings(digits):
  x, y = digits
  half = dict(a=(x[:200], y[:200]), b=(x[200:], y[200:]))
  sx, sy = similarity.load_task("builtin:synthetic", max_images=200, seed=0)
  return dict(
      digits_a=similarity.embed_task(*half["a"], **FAST),
      digits_b=similarity.embed_task(*half["b"], seed=1, **FAST),
      inverted=similarity.embed_task(255 - half["b"][0], half["b"][1], seed=1, **FAST),
      synthetic=similarity.embed_task(sx, sy, **FAST))


def test_a_dataset_is_nearest_itself(embeddings):
  e = embeddings
  same = similarity.distance(e["digits_a"], e["digits_b"])
  assert same < similarity.distance(e["digits_a"], e["synthetic"])
  assert same < similarity.distance(e["digits_a"], e["inverted"])
  ranked = similarity.rank(e["digits_a"], {k: v for k, v in e.items() if k != "digits_a"})
  assert ranked[0][0] == "digits_b" and [d for _, d in ranked] == sorted(d for _, d in ranked)


def test_embedding_and_distance_properties(embeddings, digits):
  a, b = embeddings["digits_a"], embeddings["synthetic"]
  assert a.shape == (sum(similarity.CHANNELS),) and np.all(a >= 0)
  assert a.sum() == pytest.approx(1.0)
  assert similarity.distance(a, a) == pytest.approx(0.0, abs=1e-12)
  assert similarity.distance(a, b) == pytest.approx(similarity.distance(b, a))
  assert similarity.distance(3 * a, b) == pytest.approx(similarity.distance(a, b))
  # Deterministic: the same images and seeds give the same embedding; floats in [0, 1] work.
  x, y = digits
  again = similarity.embed_task(x[:200].astype(np.float32) / 255.0, y[:200], **FAST)
  np.testing.assert_allclose(again, a, atol=1e-5)
  with pytest.raises(SimilarityError, match="another probe"):
    similarity.distance(a, a[:10])
  with pytest.raises(SimilarityError, match="all zeros"):
    similarity.distance(a, 0 * a)


@pytest.mark.parametrize("make, message", [
    (lambda x, y: (x[:50], np.zeros(50, int)), "has 1 class; at least 2"),
    (lambda x, y: (x[:5], y[:5]), "5 images are too few"),
    (lambda x, y: (np.where(np.arange(50)[:, None, None, None] == 3, np.nan,
                            x[:50] / 255.0), y[:50]), "NaN"),
    (lambda x, y: (x[:50], y[:40]), "one per image"),
])
def test_bad_tasks_give_one_line_errors(digits, make, message):
  with pytest.raises(SimilarityError, match=message) as e:
    similarity.embed_task(*make(*digits), **FAST)
  assert "\n" not in str(e.value) and isinstance(e.value, UserError)


def test_run_similar_writes_a_summary(tmp_path, monkeypatch, capsys):
  # A prior whose source is not on this machine is skipped, not an error.
  monkeypatch.setattr(similarity, "_prior_candidates", lambda: [dict(
      name="prior:gone", spec="zip:/nonexistent/tiny.zip", classes=[0, 1, 2], way=2)])
  cfg = Config(similar_config(data=dict(spec="builtin:digits", limit=300),
                              similar=dict(candidates=["builtin:synthetic"], **FAST)))
  summary = similarity.run_similar(cfg, str(tmp_path / "run"), progress=False)
  saved = json.loads((tmp_path / "run" / "summary.json").read_text())
  assert [r["name"] for r in saved["ranking"]] == ["builtin:synthetic"]
  assert saved["skipped"][0]["name"] == "prior:gone" and saved["dataset"] == "builtin:digits"
  assert saved["skipped"][0]["reason"].startswith("its data is not available here")
  assert 0 < saved["ranking"][0]["distance"] <= 1 and len(saved["embedding"]) == 112
  similarity.print_summary(summary)
  out = capsys.readouterr().out
  assert "1. " in out and "builtin:synthetic" in out and "skipped prior:gone" in out
  with pytest.raises(SimilarityError, match="similar.steps=0"):
    similarity.run_similar(Config(similar_config(similar=dict(steps=0))), str(tmp_path / "x"))
