"""Detection baselines of Table 2, Env1: BL1 (kernel density + Bayesian uncertainty) and BL2 (LID).

Both run on the target model's internals (last hidden layer, dropout, every layer's output;
see :mod:`a2d.models.layered`) and on the example sets of the craft stage, with noisy twins of
the benign inputs as extra negatives (:mod:`a2d.baselines.noise`).

- :mod:`a2d.baselines.kd_bu`: BL1, Feinman et al. 2017.
- :mod:`a2d.baselines.lid`: BL2, Ma et al. 2018.
- :func:`evaluate_baselines`: both, per crafting attack: the AUROC each baseline reports
  (``auroc``) and one trained on a disjoint pool (``auroc_heldout``).

Not re-exported here (import from its module; it trains through :mod:`a2d.training`, which the
baselines stage does not need): :mod:`a2d.baselines.magnet`, MagNet's autoencoder detector, the
"AE" that A2D is combined with against the adaptive attack (paper Section 6.2.1, Figure 7a).
"""

from a2d.baselines.kd_bu import (
    PAPER_BANDWIDTHS,
    ClassKernelDensity,
    fit_class_kde,
    gaussian_kde_log_density,
    kd_bu_auroc,
    kd_bu_auroc_heldout,
    kd_bu_features,
    mc_dropout_uncertainty,
)
from a2d.baselines.lid import block_split, lid_auroc, lid_auroc_heldout, lid_features, mle_lid
from a2d.baselines.logistic import DetectionSets
from a2d.baselines.noise import (
    FLIP,
    MATCH_L2,
    NoiseRule,
    check_noise_rule,
    noise_rng,
    noisy_samples,
)
from a2d.baselines.run import BaselineScore, evaluate_baselines

__all__ = [
    "FLIP",
    "MATCH_L2",
    "PAPER_BANDWIDTHS",
    "BaselineScore",
    "ClassKernelDensity",
    "DetectionSets",
    "NoiseRule",
    "block_split",
    "check_noise_rule",
    "evaluate_baselines",
    "fit_class_kde",
    "gaussian_kde_log_density",
    "kd_bu_auroc",
    "kd_bu_auroc_heldout",
    "kd_bu_features",
    "lid_auroc",
    "lid_auroc_heldout",
    "lid_features",
    "mc_dropout_uncertainty",
    "mle_lid",
    "noise_rng",
    "noisy_samples",
]
