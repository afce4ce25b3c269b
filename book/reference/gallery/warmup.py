# Warm the KL weight up over three epochs and stop at the first non-finite loss.
import numpy as np

from snippets import VAE, KLWarmup, NonFiniteLossGuard
from snippets import build_dense_decoder, build_dense_encoder

x = (np.random.default_rng(0).random((256, 784)) < 0.2).astype("float32")
vae = VAE(build_dense_encoder(latent_dim=2), build_dense_decoder(latent_dim=2), seed=0)
vae.compile(optimizer="adam")
callbacks = [KLWarmup(warmup_epochs=3), NonFiniteLossGuard()]
history = vae.fit(x, epochs=4, batch_size=64, callbacks=callbacks, verbose=0)
print("beta per epoch:", [round(beta, 3) for beta in history.history["beta"]])
