"""Tests for base_nas.meta.tasks: determinism, task contents, class splits, sizes and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from base_nas.data import Loader, open_dataset
from base_nas.data.sources import ArraySource
from base_nas.errors import DataError
from base_nas.meta.tasks import TaskSampler, TaskShape, episode_sampler, split_classes

MEAN = np.asarray([0.3, 0.4, 0.5], np.float32)
STD = np.asarray([0.2, 0.25, 0.3], np.float32)


@pytest.fixture(scope='module')
def digits():
  return open_dataset('builtin:digits').split('train')


@pytest.fixture(scope='module')
def synthetic():
  return open_dataset('builtin:synthetic').split('train')


def _coded_source(per_class=(8,) * 12, size=4):
  """Images whose pixels spell their own index (R, G) and label (B), to check what was drawn."""
  labels = np.concatenate([np.full(n, c, np.int64) for c, n in enumerate(per_class)])
  labels = np.random.default_rng(0).permutation(labels)
  idx = np.arange(len(labels))
  images = np.zeros((len(labels), size, size, 3), np.uint8)
  images[..., 0] = (idx // 256)[:, None, None]
  images[..., 1] = (idx % 256)[:, None, None]
  images[..., 2] = labels[:, None, None]
  return ArraySource('coded', labels, images)


def _decode(x):
  """Undoes mean=0, std=1 normalisation (x / 255) and reads back (index, label) per image."""
  px = np.rint(x[:, 0, 0] * 255.0).astype(np.int64)
  return px[:, 0] * 256 + px[:, 1], px[:, 2]


def _digits_sampler(source, shape=TaskShape(way=5, shots=3, queries=4, image_sizes=(8, 16)),
                    classes=range(10), seed=3):
  return TaskSampler(source, classes, shape, mean=MEAN, std=STD, seed=seed)


def test_task_shapes_dtypes_and_labels(digits):
  sampler = _digits_sampler(digits)
  t = sampler.task(0, 16)
  assert t['support']['image'].shape == (15, 16, 16, 3)
  assert t['query']['image'].shape == (20, 16, 16, 3)
  assert t['support']['image'].dtype == t['query']['image'].dtype == np.float32
  assert t['support']['label'].dtype == t['query']['label'].dtype == np.int32
  assert t['classes'].dtype == np.int64 and t['classes'].shape == (5,)
  assert np.bincount(t['support']['label'], minlength=5).tolist() == [3] * 5
  assert np.bincount(t['query']['label'], minlength=5).tolist() == [4] * 5
  # Shuffled, not grouped by class.
  assert not np.all(np.diff(t['support']['label']) >= 0)
  assert not np.all(np.diff(t['query']['label']) >= 0)
  # Labels name positions in `classes`, distinct original classes.
  labels = digits.labels
  for part in ('support', 'query'):
    idx = t['indices'][part]
    assert np.array_equal(labels[idx], t['classes'][t[part]['label']])
  assert len(set(t['classes'].tolist())) == 5
  assert not set(t['indices']['support']) & set(t['indices']['query'])


def test_task_determinism(digits):
  a, b = _digits_sampler(digits), _digits_sampler(digits)
  t1, t2 = a.task(7, 8), b.task(7, 8)
  for part in ('support', 'query'):
    np.testing.assert_array_equal(t1[part]['image'], t2[part]['image'])
    np.testing.assert_array_equal(t1[part]['label'], t2[part]['label'])
  np.testing.assert_array_equal(t1['classes'], t2['classes'])
  other = a.task(8, 8)
  assert not np.array_equal(t1['indices']['support'], other['indices']['support'])
  assert not np.array_equal(t1['support']['image'], other['support']['image'])
  reseeded = _digits_sampler(digits, seed=4).task(7, 8)
  assert not np.array_equal(t1['indices']['support'], reseeded['indices']['support'])


def test_labels_are_permuted_across_tasks(digits):
  sampler = _digits_sampler(digits)
  tasks = [sampler.task(i, 8) for i in range(30)]
  assert len({tuple(t['classes'].tolist()) for t in tasks}) == 30
  # Some class appears under several labels: no class owns an output unit.
  label_of = {}
  for t in tasks:
    for label, c in enumerate(t['classes'].tolist()):
      label_of.setdefault(c, set()).add(label)
  assert max(len(v) for v in label_of.values()) >= 3
  assert set(label_of) == set(range(10))  # every class gets drawn at some point


def test_classes_stay_in_the_allowed_list_and_images_are_right():
  source = _coded_source()
  allowed = [1, 4, 5, 7, 9, 11]
  shape = TaskShape(way=4, shots=2, queries=3, image_sizes=(4,))
  sampler = TaskSampler(source, allowed, shape, mean=np.zeros(3), std=np.ones(3), seed=0)
  for i in range(25):
    t = sampler.task(i)
    assert set(t['classes'].tolist()) <= set(allowed)
    seen = []
    for part in ('support', 'query'):
      idx, label = _decode(t[part]['image'])
      # The pixels are the images of the indices reported, of the class the label stands for.
      assert np.array_equal(idx, t['indices'][part])
      assert np.array_equal(label, t['classes'][t[part]['label']])
      seen.extend(idx.tolist())
    assert len(seen) == len(set(seen)) == 4 * 5


def test_normalisation_matches_loader(digits):
  sampler = _digits_sampler(digits)
  t = sampler.task(2, 16)
  k = int(t['indices']['query'][0])
  loader = Loader(digits, [k], 1, 16, mean=MEAN, std=STD, shuffle=False, prefetch=0)
  expected = next(iter(loader))['image'][0]
  np.testing.assert_array_equal(t['query']['image'][0], expected)


def test_synthetic_native_and_resized(synthetic):
  sampler = TaskSampler(synthetic, range(10), TaskShape(10, 1, 2, (32, 16)), mean=MEAN, std=STD,
                        seed=0)
  for size in (32, 16):
    t = sampler.task(0, size)
    k = int(t['indices']['support'][0])
    raw, _ = synthetic.get_batch([k])
    if size == 32:
      want = raw[0].astype(np.float32) / 255.0
      np.testing.assert_allclose(t['support']['image'][0], (want - MEAN) / STD, atol=1e-5)
    assert t['support']['image'].shape == (10, size, size, 3)
    assert np.all(np.isfinite(t['query']['image']))


def test_batch_stacks_and_shares(digits):
  sampler = _digits_sampler(digits)
  b = sampler.batch(3, 4)
  size = sampler.image_size(3)
  assert b['support']['image'].shape == (4, 15, size, size, 3)
  assert b['query']['label'].shape == (4, 20)
  assert b['classes'].shape == (4, 5)
  assert b['indices']['support'].shape == (4, 15)
  for p in range(4):
    t = sampler.task(12 + p, size)  # tasks step * num_tasks ...
    np.testing.assert_array_equal(b['support']['image'][p], t['support']['image'])
    np.testing.assert_array_equal(b['classes'][p], t['classes'])
  # Each host's share, built on its own, makes up the full batch.
  shares = [sampler.batch(3, 4, start=0, count=1), sampler.batch(3, 4, start=1, count=3)]
  np.testing.assert_array_equal(
      np.concatenate([s['query']['image'] for s in shares]), b['query']['image'])
  np.testing.assert_array_equal(sampler.batch(3, 4, start=2)['classes'], b['classes'][2:])
  moved = sampler.batch(3, 2, first_task=100)
  np.testing.assert_array_equal(moved['classes'][1], sampler.task(101, size)['classes'])
  for bad in (dict(start=4), dict(start=2, count=3), dict(count=0), dict(start=-1)):
    with pytest.raises(DataError, match='meta-batch'):
      sampler.batch(3, 4, **bad)
  with pytest.raises(DataError, match='num_tasks'):
    sampler.batch(0, 0)


def test_image_size_per_step(digits):
  sampler = _digits_sampler(digits, shape=TaskShape(2, 1, 1, (8, 12, 16)))
  sizes = [sampler.image_size(s) for s in range(60)]
  assert sizes == [_digits_sampler(digits, shape=TaskShape(2, 1, 1, (8, 12, 16))).image_size(s)
                   for s in range(60)]
  assert set(sizes) == {8, 12, 16}
  assert len(set(sizes[:10])) > 1
  assert _digits_sampler(digits, shape=TaskShape(2, 1, 1, (8,))).image_size(5) == 8


def test_split_classes():
  classes = list(range(20))
  train, held = split_classes(classes, 5, seed=1)
  assert len(held) == 5 and len(train) == 15
  assert sorted(train + held) == classes and not set(train) & set(held)
  assert train == sorted(train) and all(type(c) is int for c in train + held)
  assert (train, held) == split_classes(reversed(classes), 5, seed=1)
  assert held != split_classes(classes, 5, seed=2)[1]
  assert len(split_classes(classes, 0.25, seed=0)[1]) == 5
  assert split_classes(classes, 0, seed=0) == (classes, [])
  assert len(split_classes([3, 8], 0.01, seed=0)[1]) == 1  # a fraction holds out at least one
  for bad in (20, -1, 1.0, 0.0, True, 'x'):
    with pytest.raises(DataError):
      split_classes(classes, bad, seed=0)
  with pytest.raises(DataError, match='empty'):
    split_classes([], 1, seed=0)


def test_bad_inputs_raise_clear_errors(digits):
  train, held = split_classes(range(10), 7, seed=0)
  with pytest.raises(DataError, match=r'has 3 classes \(after holding out 7\); a 10-way task '
                                      r'needs at least 10'):
    TaskSampler(digits, train, TaskShape(way=10), mean=MEAN, std=STD, seed=0)
  with pytest.raises(DataError, match='class list is empty'):
    TaskSampler(digits, [], TaskShape(way=2), mean=MEAN, std=STD, seed=0)
  source = _coded_source(per_class=(8, 8, 3, 8))
  with pytest.raises(DataError, match=r'class 2 of the task source coded has 3 images, fewer than '
                                      r'the 6 a task needs'):
    TaskSampler(source, [0, 1, 2, 3], TaskShape(2, 3, 3, (4,)), mean=MEAN, std=STD, seed=0)
  # A class the source does not have at all is a class with 0 images.
  with pytest.raises(DataError, match='class 9 .* has 0 images'):
    TaskSampler(source, [0, 1, 9], TaskShape(2, 3, 3, (4,)), mean=MEAN, std=STD, seed=0)
  for shape, what in ((TaskShape(2, 1, 1, (0,)), 'image size'), (TaskShape(2, 1, 1, ()), 'empty'),
                      (TaskShape(0, 1, 1), 'way'), (TaskShape(2, 0, 1), 'shots'),
                      (TaskShape(2, 1, 0), 'queries')):
    with pytest.raises(DataError, match=what):
      TaskSampler(source, [0, 1, 3], shape, mean=MEAN, std=STD, seed=0)
  with pytest.raises(DataError, match='std'):
    TaskSampler(source, [0, 1], TaskShape(2, 1, 1, (4,)), mean=MEAN, std=[0.2, 0.0, 0.3], seed=0)
  sampler = TaskSampler(source, [0, 1], TaskShape(2, 1, 1, (4, 8)), mean=MEAN, std=STD, seed=0)
  with pytest.raises(DataError, match='give an image size'):
    sampler.task(0)
  with pytest.raises(DataError, match='image size'):
    sampler.task(0, 0)


def test_episode_sampler_and_describe(digits):
  train, held = split_classes(range(10), 5, seed=0)
  episodes = episode_sampler(digits, held, way=5, shots=1, queries=15, image_size=8, mean=MEAN,
                             std=STD, seed=9)
  e = episodes.task(0)
  assert e['support']['image'].shape == (5, 8, 8, 3)
  assert e['query']['image'].shape == (75, 8, 8, 3)
  assert sorted(e['classes'].tolist()) == held
  d = episodes.describe()
  assert json.loads(json.dumps(d)) == d
  assert d['classes'] == held and d['seed'] == 9
  assert d['shape'] == {'way': 5, 'shots': 1, 'queries': 15, 'image_sizes': [8]}
  assert TaskShape(**d['shape']) == episodes.shape  # a recorded shape rebuilds the same one
