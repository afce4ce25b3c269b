# Write a dense decoder's weights as JSON, decode with them in NumPy alone, and check the
# result against Keras: the same Bernoulli means, within one grey level in 255.
import json

import numpy as np

from snippets import VAE, build_dense_decoder, build_dense_encoder, export_dense_decoder, exported_decoder_logits

vae = VAE(build_dense_encoder(latent_dim=2), build_dense_decoder(latent_dim=2), seed=0)
text = json.dumps(export_dense_decoder(vae.decoder))  # 13 bits a weight, each column on its own range
z = np.random.default_rng(0).normal(size=(5, 2))
means = 1 / (1 + np.exp(-exported_decoder_logits(json.loads(text), z)))
print(f"{len(text) / 1024:.0f} KB; largest difference from Keras: {np.max(np.abs(means - vae.decode(z))):.1e}")
assert np.max(np.abs(means - vae.decode(z))) <= 1 / 255
