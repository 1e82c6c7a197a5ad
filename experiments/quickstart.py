"""DARTS (first order) on scikit-learn's bundled 8x8 digits, upscaled to 16x16: the README's
second example (the first adapts a shipped BASE prior: experiments/adapt_quickstart.py).

No download, no GPU: a small supernet (C=8, 5 cells) for 3 epochs on a 2-core CPU. The
architecture step is 100x DARTS' (Adam 3e-2, no weight decay): at DARTS' 3e-4, 66 steps leave
every operation probability at 0.12-0.13 (uniform: 0.125) and the genotype is noise; at 3e-3
still 0.11-0.14; at 3e-2 they spread to 0.06-0.25 (mean edge entropy 2.04 against ln 8 = 2.08).

  base-nas search experiments/quickstart.py

Expected (measured on 2 CPU cores, 2026-12-04): 64-96 s in the loop, 1.8-2.5 min wall with a
fresh venv install (pip's download cache warm; three runs), ~22 s of the loop tracing and
compiling; a repeat in a new work directory loads the traced and compiled programs from
~/.cache/base-nas/jax and takes 42 s in the loop (latest code; 66 s earlier the same day). Ends
with a DARTS genotype, runs/quickstart/{genotype.json, arch_weights.png, cell.png,
metrics.jsonl} and a supernet validation accuracy of 95.6% after 3 epochs (96.6% with the
architecture step above, 2026-12-07: 79 s in the loop on a CPU shared with another job).
"""
from base_nas.configs import search_config


def get_config():
  return search_config(
      space="darts", method="darts",
      data=dict(spec="builtin:digits", image_size=16),
      model=dict(channels=8, layers=5),
      search=dict(epochs=3, batch_size=32, augment=False, a_lr=3e-2, a_weight_decay=0.0),
  )
