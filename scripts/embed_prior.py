"""Stores the task embedding of a prior's meta-training source in the prior directory.

  python scripts/embed_prior.py base_nas/resources/priors/nb201-tiny

Writes PRIOR/embedding.json (base_nas.predict.similarity.embed_prior: the Task2Vec-like
embedding of its source, averaged over 3 of its way-class tasks, default probe settings), so
that `base-nas similar` ranks the prior and `prior=nearest` can pick it on machines without
its source data. Needs the source data (for nb201-tiny: ../shared/data/images). Seconds on a CPU.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("prior", help="a prior directory or a shipped prior's name")
  p.add_argument("--seed", type=int, default=0)
  a = p.parse_args(argv)
  from base_nas.errors import UserError
  from base_nas.meta.prior import resolve
  from base_nas.predict.similarity import EMBEDDING_FILE, embed_prior
  try:
    path = resolve(a.prior)
    out = embed_prior(path, seed=a.seed)
  except UserError as e:
    print(f"embed_prior: {e}", file=sys.stderr)
    return 2
  print(f"{os.path.join(path, EMBEDDING_FILE)}: {len(out['embedding'])} values, settings "
        f"{out['settings']}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
