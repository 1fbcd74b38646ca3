"""Training and evaluation engine (paper Sec. 4.1): experiment configurations, the result cache, the training loop,
evaluation, model files, distributed and parallel execution.

- ``config``: :class:`ExperimentConfig`, one named experiment, and its cache key.
- ``runs``: the result cache and :func:`run_experiment` (train, resume or load), seeds and their spread.
- ``train``: the training loop; ``evaluate``: predictions and metrics; ``targets``: coarse-mesh targets per sample.
- ``artifacts``: a trained model as one self-contained file; ``distributed``: DDP under ``torchrun``.
- ``batchnorm``, ``root_offset``: diagnostics of a trained model for ``hgn eval``, never part of a run's result.
"""
from .config import ExperimentConfig
from .runs import RunResult, cached_result, load_result, run_dir, run_experiment, run_seeds, seed_spread

__all__ = ["ExperimentConfig", "RunResult", "cached_result", "load_result", "run_dir",
           "run_experiment", "run_seeds", "seed_spread"]
