"""The run profiles, defined once and used by the command line, the notebooks, the result cache and the tests.

A profile fixes the data (which dataset, its size, the frame strides) and the training recipe:

- ``smoke``: seconds per run; what the tests and nbval execute.
- ``quick``: the README's main command: every table on the embedded data in minutes on 2 CPU cores. Its recipe
  is the paper's compressed to a few hundred steps (see :data:`QUICK_RECIPE`); its numbers are far from
  converged and are reported with their seed-to-seed spread.
- ``standard``: every table trained until the validation error plateaus (the paper's recipe shape, the training
  length measured by the convergence study of notebook 03), on every 5th training frame as the authors' released
  loader keeps them; a GPU runs the suite in minutes, 2 CPU cores in hours (resumable).
- ``full``: the paper's recipe on a larger embedded dataset (a GPU recommended).
- ``paper``: the paper's recipe on real Human3.6M.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .fitting import FitConfig
from .models.initialisation import INIT_SCHEMES

#: The loss forms of :attr:`Recipe.loss`: Eq. (4) as the paper writes it, or the released code's mean squared error.
LOSS_FORMS = ("paper", "release")


@dataclass(frozen=True)
class Recipe:
    """How a run trains (paper Sec. 4.1: Adam, lr 1e-3 x0.9 every 20 epochs, batch 64, 100 epochs, max-norm).

    - ``decay_every``: epochs between two learning-rate decays; fractions are allowed (the schedule counts
      batches), so a short recipe can keep the paper's stepped shape.
    - ``max_norm``: gradient-norm clipping ("max-norm" in the paper; 1 in the released code family).
    - ``train_limit``: keep at most this many training samples, evenly spaced (None = all).
    - ``output_init_scale``: the output graph convolutions' initial weights are multiplied by this. 1 is the
      paper's Xavier initialisation, whose first predictions are about a metre off; a short run spends much of
      its budget shrinking them, so the short recipes start the outputs small (measured in notebook 03).
    - ``evals_per_epoch`` / ``val_samples``: validation points in the history (on an evenly spaced subset of at
      most ``val_samples`` test samples; None = all); the final metrics always use the whole test split.
    - ``prediction_samples``: test samples (evenly spaced) whose predictions are stored with the run.
    - ``init``: how the weights start: ``"paper"`` (Xavier per weight matrix) or ``"release"`` (the released code's
      Xavier on SemGConv's stacked weight tensor and default fusion maps); :mod:`hgnlib.models.initialisation`.
    - ``loss``: ``"paper"`` (Eq. 4: squared distances summed over joints / vertices) or ``"release"`` (mean squared
      error per output, as ``nn.MSELoss`` in the released code). In both forms lambda_M weighs the mesh terms against
      the joints'; ``loss_scale`` multiplies the whole loss (the HGN release weights the joints x100 and each coarse
      mesh x1: ``loss=release``, ``loss_scale=100`` at lambda_M = 0.01; SemGCN's release: ``loss_scale=1``). Adam is
      blind to a constant scale; gradient-norm clipping is not.
    - ``amp``: mixed precision (bfloat16 autocast of the forward pass; fp32 weights, optimizer and loss);
      ``compile``: ``torch.compile`` the model.
    - ``fit``: the settings of the coarse-mesh pseudo-ground-truth fit (:mod:`hgnlib.fitting`).
    """

    epochs: int = 100
    lr: float = 1e-3
    lr_decay: float = 0.9
    decay_every: float = 20
    batch_size: int = 64
    max_norm: float = 1.0
    train_limit: int | None = None
    output_init_scale: float = 1.0
    evals_per_epoch: int = 1
    val_samples: int | None = 4096
    prediction_samples: int = 2048
    init: str = "paper"
    loss: str = "paper"
    loss_scale: float = 1.0
    amp: bool = False
    compile: bool = False
    fit: FitConfig = field(default_factory=FitConfig)

    def __post_init__(self) -> None:
        if self.init not in INIT_SCHEMES:
            raise ValueError(f"init must be one of {INIT_SCHEMES}, got {self.init!r}")
        if self.loss not in LOSS_FORMS:
            raise ValueError(f"loss must be one of {LOSS_FORMS}, got {self.loss!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Profile:
    """What a profile fixes. ``synth_size`` scales the embedded dataset (1.0 = the default size)."""

    name: str
    data: str  # "embedded" or "h36m"
    synth_size: float
    train_stride: int  # keep every n-th training frame
    test_stride: int  # keep every n-th test frame (1 = the standard protocol)
    description: str
    recipe: Recipe = field(default_factory=Recipe)

    def to_dict(self) -> dict:
        return asdict(self)


#: The paper's recipe (Sec. 4.1).
PAPER_RECIPE = Recipe()
#: A cheaper pseudo-ground-truth fit for the short profiles: one starting shape, fitted on fewer frames (on the
#: embedded data its coarse meshes stay within a few millimetres of the true ones; notebook 02 reports it).
QUICK_FIT = FitConfig(steps=6, refine_steps=2, shape_frames=32, shape_steps=6, shape_starts=1)
#: A few hundred steps: the paper's optimiser (Adam), batch (64) and clipping (max-norm 1) with a larger learning
#: rate (8e-3) whose stepped decay is compressed and stronger (x0.4 every 0.4 epoch instead of x0.9 every 20),
#: outputs initialised small, in float32. The learning rate and decay were chosen on SemGCN and HGN over seeds;
#: notebook 03 measures what each choice buys against the paper's value. No bfloat16 autocast: it is faster only on
#: CPUs with bfloat16 instructions; on the AVX2-only processors of most laptops a step takes about 1.2x a float32 step
#: (10x with PyTorch's own bfloat16 kernels there; :mod:`hgnlib.precision`), and this profile must be quick everywhere.
QUICK_RECIPE = Recipe(epochs=2, lr=8e-3, decay_every=0.4, lr_decay=0.4, output_init_scale=0.1, evals_per_epoch=4,
                      val_samples=1024, fit=QUICK_FIT)
#: The paper's recipe shape run to a plateau on the embedded data (the ``standard`` profile): Adam at 1e-3 decayed x0.9
#: in steps, batch 64, max-norm 1, Xavier outputs at full scale, bfloat16 autocast (fast on GPUs and on CPUs with
#: bfloat16 instructions; on CPUs without them 1.2-1.6x a float32 step: :mod:`hgnlib.precision`), and the released
#: code's initialisation and loss form, with which SemGCN trains as fast as SemGCN's own release on the same data (with
#: the paper's reading of either, much slower: notebook 03). lambda_M is then the weight of each coarse mesh's mean
#: squared error against the joints', the ratio the release's x100 / x1 weights set. The epoch count is where the
#: convergence study of notebook 03 (``hgn converge``; reports/convergence/) saw the slowest of its models plateau:
#: SemGCN-128 seed 0 at about 88,000 steps (118 epochs of 750 steps; seed 1 still improved 3.4 % over its last quarter
#: at 90,000); HGN-128 reached the same error in well under half of that.
STANDARD_RECIPE = Recipe(epochs=120, lr=1e-3, lr_decay=0.9, decay_every=4, output_init_scale=1.0, init="release",
                         loss="release", evals_per_epoch=2, val_samples=2048, amp=True, fit=QUICK_FIT)
#: A cheap fit for the smoke profile (seconds rather than minutes).
SMOKE_FIT = FitConfig(steps=4, refine_steps=2, shape_frames=32, shape_steps=6, shape_starts=1)
SMOKE_RECIPE = Recipe(epochs=2, lr=8e-3, decay_every=0.4, lr_decay=0.4, train_limit=1024, output_init_scale=0.1,
                      evals_per_epoch=2, val_samples=256, prediction_samples=256, fit=SMOKE_FIT)

PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", "embedded", 0.1, 4, 4, "seconds per run: tests and nbval", SMOKE_RECIPE),
    "quick": Profile("quick", "embedded", 1.0, 20, 20,
                     "every table on the embedded data, minutes on 2 CPU cores (short training)", QUICK_RECIPE),
    "standard": Profile("standard", "embedded", 1.0, 5, 10,
                        "every table trained to a plateau on the embedded data (GPU: minutes; 2 CPU cores: hours)",
                        STANDARD_RECIPE),
    "full": Profile("full", "embedded", 4.0, 1, 1, "the paper's recipe on a larger embedded dataset (GPU advised)",
                    PAPER_RECIPE),
    "paper": Profile("paper", "h36m", 1.0, 1, 1, "the paper's recipe on real Human3.6M", PAPER_RECIPE),
}


def get_profile(name: str) -> Profile:
    """The profile called ``name``; a clear error lists the valid names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}") from None
