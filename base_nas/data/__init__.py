"""Datasets (tfds, image folders and zips, npz, built-ins) and the batch pipeline.

``open_dataset(spec)`` gives a :class:`Dataset` of :class:`Source` splits; a :class:`Loader` turns a
Source into deterministic, resumable, normalised and optionally augmented batches.
"""

from base_nas.data.pipeline import Loader, channel_stats, split_indices
from base_nas.data.sources import Dataset, Source, open_dataset

__all__ = ['Dataset', 'Loader', 'Source', 'channel_stats', 'open_dataset', 'split_indices']
