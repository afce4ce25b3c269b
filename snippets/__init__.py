"""Tested code behind the book *Variational Autoencoders with Keras*.

Every code cell of the book imports from this package; its unit tests and the
executed chapters (through nbval) check it. Modules:

- :mod:`snippets.profile` -- the ``quick``/``full`` execution profiles;
- :mod:`snippets.validation` -- clear errors for bad input;
- :mod:`snippets.data` -- MNIST with an offline fallback that says which data it used;
- :mod:`snippets.layers` -- the ``Sampling`` layer;
- :mod:`snippets.losses` -- KL, Bernoulli, Gaussian and continuous-Bernoulli terms and the ELBO, in nats;
- :mod:`snippets.models` -- dense encoders/decoders, ``Autoencoder`` and ``VAE``;
- :mod:`snippets.conv` -- convolutional encoders and decoders;
- :mod:`snippets.callbacks` -- a NaN guard and KL warm-up;
- :mod:`snippets.training` -- early stopping, checkpoints and back-up-and-restore;
- :mod:`snippets.legacy` -- the Keras 2 ``Lambda`` pattern, kept to show why it fails;
- :mod:`snippets.latent` -- sampling and measuring latent spaces;
- :mod:`snippets.diagnostics` -- active units, rate and distortion, gradient summaries;
- :mod:`snippets.evaluation` -- multi-sample ELBO and the importance-weighted bound;
- :mod:`snippets.theory` -- Gaussians, KL, entropy and the linear-Gaussian model's exact ELBO;
- :mod:`snippets.estimators` -- pathwise and score-function gradient estimators;
- :mod:`snippets.anomaly` -- held-out-digit anomaly detection and its ROC-AUC table;
- :mod:`snippets.conditional` -- the conditional VAE;
- :mod:`snippets.augmentation` -- denoising and data augmentation with a trained VAE;
- :mod:`snippets.recommend` -- Mult-VAE for implicit-feedback recommendation;
- :mod:`snippets.text` -- a character-level VAE for words;
- :mod:`snippets.scaling` -- ``tf.distribute`` and ``tf.data`` (TensorFlow only);
- :mod:`snippets.flops` -- FLOPs per sample of a Keras model, for the benchmark's peak ratios;
- :mod:`snippets.theory_plots` and :mod:`snippets.plotting` -- the figures the chapters show.
"""

__version__ = "0.1.0"
