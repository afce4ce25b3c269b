"""Tested code behind the book *Variational Autoencoders with Keras*.

Every code cell of the book imports from this package; its unit tests and the
executed chapters (through nbval) check it. Modules:

- :mod:`snippets.profile` -- the ``quick``/``full`` execution profiles;
- :mod:`snippets.data` -- MNIST with an offline fallback that says which data it used;
- :mod:`snippets.layers` -- the ``Sampling`` layer;
- :mod:`snippets.losses` -- KL, Bernoulli log-likelihood and ELBO, in nats;
- :mod:`snippets.models` -- dense encoders/decoders, ``Autoencoder`` and ``VAE``;
- :mod:`snippets.latent` -- sampling and measuring latent spaces;
- :mod:`snippets.theory` -- Gaussians, KL, entropy and the linear-Gaussian model's exact ELBO;
- :mod:`snippets.estimators` -- pathwise and score-function gradient estimators;
- :mod:`snippets.theory_plots` -- figures of the theory chapters;
- :mod:`snippets.plotting` -- figures the chapters show;
- :mod:`snippets.validation` -- clear errors for bad input.
"""

__version__ = "0.1.0"
