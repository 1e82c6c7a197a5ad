"""Errors that the command line reports as one line (``error: ...``) and a non-zero exit.

Every module raises a subclass of :class:`UserError` for problems with the user's input (a missing
file, an unknown name, a corrupt dataset); anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
  """A problem with the user's input, explained in one line."""


class ConfigError(UserError, ValueError):
  """An experiment config or a command-line override is invalid."""


class GenotypeError(UserError, ValueError):
  """A genotype is malformed, names an unknown op, or belongs to another search space."""


class DataError(UserError, ValueError):
  """A dataset spec, path or file cannot be read."""


class RunError(UserError, RuntimeError):
  """A work directory or checkpoint does not fit the run (another config), or training diverged."""


class CurveError(UserError, ValueError):
  """A learning curve cannot be extrapolated: too short, not finite, or a budget fraction outside
  (0, 1); or a curve model or curve file cannot be read."""


class TableError(GenotypeError):
  """A benchmark table file is missing or corrupt, a task is unknown, or a cell is not in it.

  A :class:`GenotypeError` (so a :class:`UserError` and a ``ValueError``), as table errors were
  before tables had their own class.
  """


class PredictorError(UserError, ValueError):
  """A performance predictor cannot be fitted, queried or read: training data of the wrong shape
  or not finite, an architecture outside the predictor's space, or a predictor directory that is
  missing, corrupt or trained for another space."""


class SimilarityError(UserError, ValueError):
  """A task cannot be embedded or compared: too few images or classes, images that are not
  finite, or embeddings of different probes."""
