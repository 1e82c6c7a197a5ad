"""The ``base-nas`` command: thin calls into the library.

  base-nas search     EXPERIMENT.py [field=value ...] [--workdir DIR]
  base-nas train      EXPERIMENT.py [field=value ...] [--workdir DIR]
  base-nas meta-train EXPERIMENT.py [field=value ...] [--workdir DIR]
  base-nas adapt      EXPERIMENT.py prior=PATH [data.spec=SPEC ...] [--workdir DIR]
  base-nas infer      EXPERIMENT.py method=value-net|base [data.spec=SPEC | task=NAME] ...
  base-nas predict    EXPERIMENT.py genotype=CELL[,CELL...] [data.spec=SPEC | task=NAME] ...
  base-nas fit-predictor EXPERIMENT.py [tasks=[...]] [--workdir DIR]
  base-nas similar    EXPERIMENT.py data.spec=SPEC [--workdir DIR]

Problems with the input (a missing file, an unknown field or dataset, a checkpoint from another
config, a diverging loss) end with one ``error: ...`` line and exit status 2.
"""
from __future__ import annotations

import argparse
import os
import sys

from base_nas.errors import UserError


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="base-nas", description="Transferable neural architecture "
                              "search: BASE meta-training and adaptation, single-task "
                              "baselines, final training.")
  sub = p.add_subparsers(dest="command", required=True)
  for name, help_ in (("search", "search a cell with DARTS, GDAS or SNAS on one dataset"),
                      ("train", "train a genotype from scratch and test it"),
                      ("meta-train", "meta-train a BASE prior over many tasks (many devices, "
                                     "many hosts)"),
                      ("adapt", "adapt a BASE prior to a new dataset: a posterior over cells "
                                "and adapted weights"),
                      ("infer", "a cell for a new dataset by a transfer method (value network, "
                                "BASE)"),
                      ("predict", "predicted values of cells on a dataset, by a trained "
                                  "predictor"),
                      ("fit-predictor", "fit a value-network predictor on tabular benchmarks"),
                      ("similar", "rank priors and task sources by similarity to a dataset")):
    c = sub.add_parser(name, help=help_)
    c.add_argument("config", help="experiment config file (see experiments/)")
    c.add_argument("overrides", nargs="*", metavar="field=value",
                   help="override any config field, e.g. search.epochs=3 data.spec=npz:x.npz")
    c.add_argument("--workdir", help="work directory (default: runs/<config name>)")
    c.add_argument("--no-progress", action="store_true", help="no progress bars")
  return p


def _enable_compilation_cache():
  # Searches trace and compile one large program; caching both on disk makes a repeated or
  # resumed run start in seconds. BASE_NAS_JAX_CACHE='' turns it off.
  path = os.environ.get("BASE_NAS_JAX_CACHE",
                        os.path.join(os.path.expanduser("~"), ".cache", "base-nas", "jax"))
  if path:
    from base_nas import compile_cache
    compile_cache.enable(path)  # programs that compile in over 0.5 s


def _load(args):
  from base_nas.config import load_config
  cfg = load_config(args.config, args.overrides)
  workdir = args.workdir or cfg.run.get("workdir") or os.path.join(
      "runs", os.path.splitext(os.path.basename(args.config))[0])
  if args.no_progress:
    cfg.run.progress = False
  return cfg, workdir


def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  try:
    cfg, workdir = _load(args)
    _enable_compilation_cache()
    if args.command == "meta-train":
      from base_nas.meta import parallel
      from base_nas.meta.train import print_summary, run_meta_train
      parallel.initialize_distributed()
      summary = run_meta_train(cfg, workdir, progress=cfg.run.progress)
      if summary and parallel.jax.process_index() == 0:
        print_summary(summary)
    elif args.command == "adapt":
      from base_nas.meta.adapt import print_summary, run_adapt
      print_summary(run_adapt(cfg, workdir, progress=cfg.run.progress))
    elif args.command in ("infer", "predict", "fit-predictor"):
      from base_nas import infer
      run, show = {"infer": (infer.run_infer, infer.print_infer),
                   "predict": (infer.run_predict, infer.print_predict),
                   "fit-predictor": (infer.fit_predictor, infer.print_fit)}[args.command]
      show(run(cfg, workdir, progress=cfg.run.progress))
    elif args.command == "similar":
      from base_nas.predict.similarity import print_summary, run_similar
      print_summary(run_similar(cfg, workdir, progress=cfg.run.progress))
    elif args.command == "search":
      from base_nas.search.loop import print_summary, run_search
      print_summary(run_search(cfg, workdir, progress=cfg.run.progress))
    else:
      from base_nas.final import print_summary, run_training
      print_summary(run_training(cfg, workdir, progress=cfg.run.progress))
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print("interrupted: run the same command again to resume from the last checkpoint",
          file=sys.stderr)
    return 130
  return 0


if __name__ == "__main__":
  sys.exit(main())
