# Estimate log p(x) of held-out examples: the IWAE bound with k = 100 importance samples
# and the ELBO (the mean of the same k log-weights), in nats and bits per pixel.
import numpy as np

from snippets import VAE, build_dense_decoder, build_dense_encoder
from snippets import log_weight_statistics
from snippets import mean_and_standard_error, nats_to_bits_per_dim

x = (np.random.default_rng(0).random((512, 784)) < 0.2).astype("float32")
vae = VAE(build_dense_encoder(latent_dim=4), build_dense_decoder(latent_dim=4), seed=0)
vae.compile(optimizer="adam")
vae.fit(x[:448], epochs=2, batch_size=64, verbose=0)
summary = log_weight_statistics(vae, x[448:], k=100, seed=1)
for name, values in (("-ELBO", -summary.elbo), ("-IWAE", -summary.iwae)):
    estimate = mean_and_standard_error(values)
    bits = nats_to_bits_per_dim(estimate.mean, 784)
    error = estimate.standard_error
    print(f"{name}: {estimate.mean:.1f} ± {error:.1f} nats, {bits:.3f} bits/dim")
