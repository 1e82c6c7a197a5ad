"""Tests for base_nas.data: every spec kind, the loader's determinism and augmentation, and errors."""

import os
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from base_nas.data import Loader, channel_stats, open_dataset, split_indices
from base_nas.errors import DataError


def _write_image(path, colour, mode='RGB', size=(6, 5), fmt=None):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  if mode == 'L':
    Image.new('L', size, colour).save(path, format=fmt)
  else:
    Image.new(mode, size, colour).save(path, format=fmt)


def _make_class_folder(root, classes=('cat', 'dog'), per_class=3):
  for c, name in enumerate(classes):
    for k in range(per_class):
      ext = 'jpg' if k == 1 else 'png'
      _write_image(os.path.join(root, name, f'{k}.{ext}'), (40 * c, 10 * k, 100))
  # A grayscale image must come out as RGB too.
  _write_image(os.path.join(root, classes[0], 'gray.png'), 77, mode='L')


@pytest.fixture
def flat_folder(tmp_path):
  root = str(tmp_path / 'flat')
  _make_class_folder(root)
  return root


@pytest.fixture
def split_folder(tmp_path):
  root = str(tmp_path / 'splits')
  _make_class_folder(os.path.join(root, 'train'), ('cat', 'dog', 'eel'))
  _make_class_folder(os.path.join(root, 'test'), ('cat', 'eel'), per_class=1)
  return root


def _zip_dir(src, dst, prefix=''):
  with zipfile.ZipFile(dst, 'w') as zf:
    for root, _, files in os.walk(src):
      for f in files:
        full = os.path.join(root, f)
        zf.write(full, prefix + os.path.relpath(full, src).replace(os.sep, '/'))
  return dst


# --- specs ----------------------------------------------------------------------------------------


def test_flat_folder_is_all_train(flat_folder):
  ds = open_dataset(f'folder:{flat_folder}')
  assert list(ds.splits) == ['train'] and ds.num_classes == 2 and ds.class_names == ['cat', 'dog']
  src = ds.split('train')
  assert len(src) == 7
  assert src.labels.dtype == np.int64 and sorted(src.labels.tolist()) == [0, 0, 0, 0, 1, 1, 1]
  for i in range(len(src)):
    image, label = src[i]
    assert image.dtype == np.uint8 and image.shape == (5, 6, 3) and label == src.labels[i]
  gray = src.files.index('cat/gray.png')
  assert (src[gray][0] == 77).all()
  # A bare directory path works the same.
  assert len(open_dataset(flat_folder).split('train')) == 7


def test_split_folder_shares_class_index(split_folder):
  ds = open_dataset(f'folder:{split_folder}')
  assert sorted(ds.splits) == ['test', 'train'] and ds.class_names == ['cat', 'dog', 'eel']
  test = ds.split('test')
  assert sorted(test.labels.tolist()) == [0, 0, 2]  # cat (incl. gray) and eel keep train's ids
  images, labels = test.get_batch([0, 2])
  assert len(images) == 2 and labels.tolist() == test.labels[[0, 2]].tolist()


def test_zip_matches_folder_and_strips_wrapper(split_folder, tmp_path):
  folder = open_dataset(f'folder:{split_folder}')
  for spec in ('zip:{}', 'folder:{}', '{}'):
    path = _zip_dir(split_folder, str(tmp_path / 'd.zip'), prefix='mydata/')
    ds = open_dataset(spec.format(path))
    assert ds.class_names == folder.class_names and sorted(ds.splits) == ['test', 'train']
    a, b = ds.split('train'), folder.split('train')
    assert a.labels.tolist() == b.labels.tolist()
    np.testing.assert_array_equal(a[3][0], b[3][0])


def _write_npz(path, n=12, test=True, shape=(7, 9), dtype=np.uint8, drop=()):
  rng = np.random.default_rng(0)
  x = rng.integers(0, 256, (n, *shape)).astype(dtype)
  if dtype != np.uint8:
    x = x / 255.0
  arrays = {'x': x, 'y': np.arange(n) % 4}
  if test:
    arrays.update(x_test=x[:5], y_test=np.arange(5) % 4)
  np.savez(path, **{k: v for k, v in arrays.items() if k not in drop})
  return x


@pytest.mark.parametrize('shape', [(7, 9), (7, 9, 1), (7, 9, 3)])
def test_npz(tmp_path, shape):
  path = str(tmp_path / 'a.npz')
  x = _write_npz(path, shape=shape)
  ds = open_dataset(f'npz:{path}')
  assert sorted(ds.splits) == ['test', 'train'] and ds.num_classes == 4
  src = ds.split('train')
  assert len(src) == 12 and src.labels.tolist() == (np.arange(12) % 4).tolist()
  image, label = src[2]
  assert image.shape == (7, 9, 3) and label == 2
  np.testing.assert_array_equal(image[..., 0], x[2].reshape(7, 9, -1)[..., 0])
  batch, labels = src.get_batch([0, 5])
  assert batch.shape == (2, 7, 9, 3) and batch.dtype == np.uint8 and labels.tolist() == [0, 1]


def test_npz_float_without_test_and_aliases(tmp_path):
  path = str(tmp_path / 'f.npz')
  x = _write_npz(path, test=False, dtype=np.float64)
  ds = open_dataset(path)
  assert list(ds.splits) == ['train']
  np.testing.assert_array_equal(ds.split('train')[1][0][..., 1], np.rint(x[1] * 255))
  np.savez(tmp_path / 'alias.npz', x_train=np.zeros((3, 4, 4), np.uint8), y_train=[0, 1, 1])
  assert open_dataset(str(tmp_path / 'alias.npz')).num_classes == 2


def test_builtin_digits():
  ds = open_dataset('builtin:digits')
  train, test = ds.split('train'), ds.split('test')
  assert ds.num_classes == 10 and len(train) + len(test) == 1797 and len(test) == 359
  image, _ = train[0]
  assert image.shape == (8, 8, 3) and image.dtype == np.uint8 and image.max() > 200
  assert open_dataset('builtin:digits').split('test').labels.tolist() == test.labels.tolist()


def test_builtin_synthetic_is_deterministic_and_balanced():
  ds = open_dataset('builtin:synthetic')
  train, test = ds.split('train'), ds.split('test')
  assert (len(train), len(test), ds.num_classes) == (2000, 500, 10)
  assert np.bincount(train.labels).tolist() == [200] * 10
  a, b = train[17], open_dataset('builtin:synthetic').split('train')[17]
  assert a[0].shape == (32, 32, 3) and a[1] == b[1]
  np.testing.assert_array_equal(a[0], b[0])
  assert not np.array_equal(train[0][0], test[0][0])


# tfds: tfds.testing.mock_data works for tfds.data_source / as_data_source without TensorFlow only
# with policy=USE_CODE (no metadata files) and an explicit split: the mocked builder knows no split
# names, and its image encoder (used by SkipDecoding) needs TensorFlow, so labels fall back to a
# decoding pass. The prepared-dataset test below builds real array_record files instead, which
# works without TensorFlow when the generator yields PIL images rather than numpy arrays.


def test_tfds_mock_mnist(tmp_path):
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
  with tfds.testing.mock_data(num_examples=6, policy=tfds.testing.MockPolicy.USE_CODE):
    ds = open_dataset('tfds:mnist:train', data_dir=str(tmp_path))
    assert list(ds.splits) == ['train'] and ds.num_classes == 10
    src = ds.split('train')
    assert len(src) == 6
    image, label = src[0]
    assert image.shape == (28, 28, 3) and image.dtype == np.uint8 and 0 <= label < 10
    assert src.labels.shape == (6,) and src.labels[0] == label


def _prepare_tiny_tfds(data_dir):
  import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

  class TinyTfdsForTest(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Two splits of 8x8 grey images; never registered, so it is read back from files."""
    VERSION = tfds.core.Version('1.0.0')

    def _info(self):
      return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
          'image': tfds.features.Image(shape=(8, 8, 1)),
          'label': tfds.features.ClassLabel(names=['a', 'b', 'c'])}))

    def _split_generators(self, dl_manager):
      return {'train': self._generate_examples(6), 'test': self._generate_examples(4)}

    def _generate_examples(self, n):
      for i in range(n):
        yield i, {'image': Image.fromarray(np.full((8, 8), 10 * i, np.uint8)), 'label': i % 3}

  builder = TinyTfdsForTest(data_dir=data_dir, file_format='array_record')
  builder.download_and_prepare()
  return builder.name


def test_tfds_prepared_array_record(tmp_path):
  name = _prepare_tiny_tfds(str(tmp_path))
  ds = open_dataset(f'tfds:{name}', data_dir=str(tmp_path))
  assert sorted(ds.splits) == ['test', 'train'] and ds.num_classes == 3
  assert ds.class_names == ['a', 'b', 'c']
  train = ds.split('train')
  assert sorted(train.labels.tolist()) == [0, 0, 1, 1, 2, 2]
  for k in range(len(train)):
    # tfds shuffles records, but each image (value 10 * i) still carries label i % 3.
    image, label = train[k]
    assert image.shape == (8, 8, 3) and (image == image[0, 0, 0]).all()
    assert label == train.labels[k] == (image[0, 0, 0] // 10) % 3
  one = open_dataset(f'tfds:{name}:test', data_dir=str(tmp_path))
  assert list(one.splits) == ['test'] and len(one.split('test')) == 4
  with pytest.raises(DataError, match='unknown split .nope.'):
    open_dataset(f'tfds:{name}:nope', data_dir=str(tmp_path))


def test_tfds_not_prepared_fails_fast(tmp_path):
  start = time.monotonic()
  with pytest.raises(DataError) as err:
    open_dataset('tfds:mnist', data_dir=str(tmp_path))
  assert time.monotonic() - start < 10
  message = str(err.value)
  assert 'mnist' in message and str(tmp_path) in message and 'tfds build' in message
  with pytest.raises(DataError, match='no_such_dataset_xyz'):
    open_dataset('tfds:no_such_dataset_xyz', data_dir=str(tmp_path))


# --- pipeline -------------------------------------------------------------------------------------


def test_split_indices():
  train, val = split_indices(100, 0.25, seed=3)
  assert len(val) == 25 and len(train) == 75
  assert sorted(np.concatenate([train, val]).tolist()) == list(range(100))
  again = split_indices(100, 0.25, seed=3)
  assert np.array_equal(train, again[0]) and not np.array_equal(val, split_indices(100, 0.25, 4)[1])


@pytest.fixture(scope='module')
def synthetic():
  return open_dataset('builtin:synthetic').split('train')


def _loader(source, **kw):
  args = dict(mean=[0.5] * 3, std=[0.25] * 3, seed=7)
  args.update(kw)
  return Loader(source, np.arange(200), 32, 32, **args)


def test_loader_determinism_and_resume(synthetic):
  loader = _loader(synthetic, augment=True, cutout=8)
  assert len(loader) == 6
  first = list(loader.epoch(3))
  again = list(_loader(synthetic, augment=True, cutout=8).epoch(3))
  assert len(first) == 6
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a['image'], b['image'])
    np.testing.assert_array_equal(a['label'], b['label'])
  other = list(loader.epoch(4))
  assert not np.array_equal(first[0]['label'], other[0]['label'])
  tail = list(loader.epoch(3, start=4))
  assert len(tail) == 2
  for a, b in zip(tail, first[4:]):
    np.testing.assert_array_equal(a['image'], b['image'])
  # Without the background thread the batches are the same.
  inline = list(_loader(synthetic, augment=True, cutout=8, prefetch=0).epoch(3))
  np.testing.assert_array_equal(inline[2]['image'], first[2]['image'])


def test_loader_shapes_resize_and_remainder(synthetic):
  loader = Loader(synthetic, np.arange(70), 32, 16, mean=[0, 0, 0], std=[1, 1, 1], shuffle=False,
                  drop_remainder=False, augment=True)
  batches = list(loader.epoch(0))
  assert len(loader) == 3 and [len(b['label']) for b in batches] == [32, 32, 6]
  assert batches[0]['image'].shape == (32, 16, 16, 3) and batches[0]['image'].dtype == np.float32
  assert batches[0]['label'].dtype == np.int32
  assert batches[0]['label'].tolist() == synthetic.labels[:32].tolist()
  assert 0.0 <= batches[0]['image'].min() and batches[0]['image'].max() <= 1.0


def test_normalisation_and_channel_stats(synthetic):
  idx = np.arange(64)
  mean, std = channel_stats(synthetic, idx, 32)
  assert mean.shape == (3,) and mean.dtype == np.float32 and (0 < mean).all() and (mean < 1).all()
  loader = Loader(synthetic, idx, 64, 32, mean=mean, std=std, shuffle=False)
  x = next(loader.epoch(0))['image']
  np.testing.assert_allclose(x.reshape(-1, 3).mean(0), 0.0, atol=1e-3)
  np.testing.assert_allclose(x.reshape(-1, 3).std(0), 1.0, atol=1e-3)
  raw = synthetic[0][0].astype(np.float32) / 255.0
  np.testing.assert_allclose(x[0], (raw - mean) / std, rtol=1e-5, atol=1e-5)


def test_cutout_zeroes_a_square(synthetic):
  # With mean 0 no unmasked pixel can be exactly 0 where the image is not black; cutout adds zeros.
  plain = next(_loader(synthetic, mean=[-1] * 3, std=[1] * 3, shuffle=False).epoch(0))['image']
  cut = next(_loader(synthetic, mean=[-1] * 3, std=[1] * 3, shuffle=False,
                     cutout=10).epoch(0))['image']
  assert (plain != 0).all()
  for k in range(len(cut)):
    rows, cols = np.nonzero((cut[k] == 0).all(-1))
    assert 0 < len(rows) <= 100
    h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert len(rows) == h * w and h <= 10 and w <= 10  # a (possibly border-clipped) square
    keep = (cut[k] != 0).all(-1)
    np.testing.assert_array_equal(cut[k][keep], plain[k][keep])


def test_loader_abandoned_iterator_does_not_hang(synthetic):
  it = _loader(synthetic, prefetch=1).epoch(0)
  next(it)
  del it  # The producer thread must notice and stop.


# --- errors ---------------------------------------------------------------------------------------


def test_errors_name_the_problem(tmp_path, flat_folder):
  missing = str(tmp_path / 'nowhere')
  for spec in (f'folder:{missing}', f'npz:{missing}.npz', f'zip:{missing}.zip'):
    with pytest.raises(DataError, match='nowhere'):
      open_dataset(spec)
  with pytest.raises(DataError, match="unknown dataset spec 'bogus:thing'"):
    open_dataset('bogus:thing')
  with pytest.raises(DataError, match='unknown built-in'):
    open_dataset('builtin:imagenet')
  with pytest.raises(DataError, match="unknown split 'val'.*train"):
    open_dataset(f'folder:{flat_folder}').split('val')

  empty = tmp_path / 'empty'
  empty.mkdir()
  with pytest.raises(DataError, match='no images'):
    open_dataset(f'folder:{empty}')
  _write_image(str(empty / 'loose.png'), (1, 2, 3))
  with pytest.raises(DataError, match='no class subfolders'):
    open_dataset(f'folder:{empty}')

  bad = tmp_path / 'bad'
  _write_image(str(bad / 'cls' / 'ok.png'), (1, 2, 3))
  (bad / 'cls' / 'broken.jpg').write_bytes(b'not an image at all')
  src = open_dataset(f'folder:{bad}').split('train')
  with pytest.raises(DataError, match='corrupt image .*broken.jpg'):
    src[src.files.index('cls/broken.jpg')]

  npz = str(tmp_path / 'noy.npz')
  _write_npz(npz, drop=('y',))
  with pytest.raises(DataError, match="has no array 'y'"):
    open_dataset(npz)
  _write_npz(npz, drop=('y_test',))
  with pytest.raises(DataError, match="'y_test'"):
    open_dataset(npz)
  np.savez(npz, x=np.zeros((4, 3, 3), np.uint8), y=[0, 1, 2])
  with pytest.raises(DataError, match='4 images but y has 3 labels'):
    open_dataset(npz)
  (tmp_path / 'junk.npz').write_bytes(b'garbage')
  with pytest.raises(DataError, match='corrupt npz file .*junk.npz'):
    open_dataset(str(tmp_path / 'junk.npz'))

  with pytest.raises(DataError, match='fewer than one batch of 64'):
    Loader(open_dataset('builtin:digits').split('test'), np.arange(10), 64, 8, mean=[0] * 3,
           std=[1] * 3)
