"""A small, tested Keras 3 library for variational autoencoders.

The core a reader copies from is what ``__all__`` lists, importable from the
package itself::

    from snippets import VAE, build_dense_decoder, build_dense_encoder, load_mnist

- layers: :class:`Sampling`, the reparameterised draw of ``z``;
- likelihoods: what the decoder's logits mean (Bernoulli, continuous Bernoulli,
  Gaussian, multinomial, categorical), each with ``log_prob`` and ``mean``;
- losses: the KL term and the Gaussian densities of the latent space, in nats;
- models: dense builders, :class:`Autoencoder` and :class:`VAE`;
- conv: convolutional builders for 28 x 28 images;
- data: MNIST with an offline fallback, binarisation;
- callbacks and training: a NaN guard, KL warm-up, early stopping and checkpoints;
- evaluation: the multi-sample ELBO and the importance-weighted bound;
- export: a dense decoder's weights as versioned JSON, and its NumPy evaluation;
- validation: input checks that name the argument at fault.

Core modules import only Keras, NumPy, SciPy and each other. The code behind
the book's own experiments and figures lives in :mod:`snippets.chapters`, which
imports the core and is never imported by it.
"""

from snippets.callbacks import KLWarmup, NonFiniteLossGuard
from snippets.conv import build_conv_decoder, build_conv_encoder
from snippets.data import DynamicBinarization, MnistData, binarize, load_mnist
from snippets.evaluation import (
    LogWeightSummary,
    MeanWithError,
    elbo_estimate,
    iwae_bound,
    log_weight_statistics,
    mean_and_standard_error,
    nats_to_bits_per_dim,
)
from snippets.export import export_dense_decoder, exported_decoder_logits
from snippets.layers import Sampling
from snippets.likelihoods import (
    Bernoulli,
    Categorical,
    ContinuousBernoulli,
    Gaussian,
    Likelihood,
    Multinomial,
)
from snippets.losses import (
    diagonal_gaussian_log_density,
    gaussian_kl_to_standard_normal,
)
from snippets.models import (
    VAE,
    Autoencoder,
    LatentVariableModel,
    build_dense_decoder,
    build_dense_encoder,
    predict_in_batches,
)
from snippets.training import training_callbacks
from snippets.validation import (
    check_array,
    check_images,
    check_number,
    check_positive_int,
)

__version__ = "0.2.0"

__all__ = [
    # layers and models
    "Sampling",
    "LatentVariableModel",
    "VAE",
    "Autoencoder",
    "build_dense_encoder",
    "build_dense_decoder",
    "build_conv_encoder",
    "build_conv_decoder",
    "predict_in_batches",
    # likelihoods p(x|z) and the latent terms
    "Likelihood",
    "Bernoulli",
    "ContinuousBernoulli",
    "Gaussian",
    "Multinomial",
    "Categorical",
    "gaussian_kl_to_standard_normal",
    "diagonal_gaussian_log_density",
    # data
    "MnistData",
    "load_mnist",
    "binarize",
    "DynamicBinarization",
    # training
    "KLWarmup",
    "NonFiniteLossGuard",
    "training_callbacks",
    # evaluation
    "LogWeightSummary",
    "log_weight_statistics",
    "iwae_bound",
    "elbo_estimate",
    "nats_to_bits_per_dim",
    "mean_and_standard_error",
    "MeanWithError",
    # export
    "export_dense_decoder",
    "exported_decoder_logits",
    # validation
    "check_array",
    "check_images",
    "check_number",
    "check_positive_int",
]
