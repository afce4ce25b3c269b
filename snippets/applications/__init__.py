"""What a practitioner reuses from the book's applications: recommending, anomaly
scores, a conditional VAE.

Like the core, these modules import only Keras, NumPy, SciPy and :mod:`snippets`,
never read the environment and never seed global state; the experiments that use
them live in :mod:`snippets.chapters`.

- :mod:`snippets.applications.recommend`: Mult-VAE and Mult-DAE on binary click
  vectors, the popularity baseline, the ranking metrics Recall@k and NDCG@k, and
  early stopping on a validation NDCG.
- :mod:`snippets.applications.anomaly`: the anomaly scores of a VAE (−ELBO,
  −IWAE, minus the log reconstruction probability, squared error) and a threshold
  set at a quantile of normal validation scores.
- :mod:`snippets.applications.conditional`: a dense conditional VAE, its inputs,
  decoding one code as every label, and IWAE bounds on ``log p(x | y)`` and
  ``log p(x)``.
"""

from snippets.applications.anomaly import (
    THRESHOLD_QUANTILE,
    anomaly_scores,
    log_likelihood_of_draws,
    log_mean_exp,
    log_reconstruction_probability,
    log_weight_terms,
    standard_normal_draws,
    validation_threshold,
)
from snippets.applications.conditional import (
    NUM_CLASSES,
    build_conditional_vae,
    conditional_inputs,
    conditional_iwae,
    decode_every_label,
    marginal_iwae,
    one_hot_labels,
)
from snippets.applications.recommend import (
    MULT_DAE_L2,
    RankingEarlyStopping,
    Recommender,
    build_mult_dae,
    build_mult_decoder,
    build_mult_encoder,
    build_mult_vae,
    ndcg_at_k,
    popularity_recommender,
    recall_at_k,
)

__all__ = [
    # recommend
    "MULT_DAE_L2",
    "RankingEarlyStopping",
    "Recommender",
    "build_mult_dae",
    "build_mult_decoder",
    "build_mult_encoder",
    "build_mult_vae",
    "ndcg_at_k",
    "popularity_recommender",
    "recall_at_k",
    # anomaly
    "THRESHOLD_QUANTILE",
    "anomaly_scores",
    "log_likelihood_of_draws",
    "log_mean_exp",
    "log_reconstruction_probability",
    "log_weight_terms",
    "standard_normal_draws",
    "validation_threshold",
    # conditional
    "NUM_CLASSES",
    "build_conditional_vae",
    "conditional_inputs",
    "conditional_iwae",
    "decode_every_label",
    "marginal_iwae",
    "one_hot_labels",
]
