# Train on binary images of 784 pixels, report -ELBO = reconstruction + KL in nats, save
# and reload in safe mode, then generate. Replace `x` by your data: (n, 784), 0s and 1s.
import tempfile
from pathlib import Path

import numpy as np

x = (np.random.default_rng(0).random((512, 784)) < 0.2).astype("float32")
vae = VAE(build_encoder(latent_dim=2), build_decoder(latent_dim=2), seed=0)
vae.compile(optimizer=keras.optimizers.Adam(1e-3))
vae.fit(x, epochs=2, batch_size=128, verbose=0)
scores = vae.evaluate(x[:128], batch_size=128, verbose=0, return_dict=True)
loss, reconstruction, kl = scores["loss"], scores["reconstruction"], scores["kl"]
print(f"-ELBO {loss:.1f} nats = {reconstruction:.1f} + {kl:.1f} KL")

with tempfile.TemporaryDirectory() as folder:
    vae.save(Path(folder) / "vae.keras")
    restored = keras.saving.load_model(Path(folder) / "vae.keras", safe_mode=True)

prior_draws = keras.random.normal((4, 2), seed=1)  # z ~ N(0, I)
print("generated images:", keras.ops.sigmoid(restored.decoder(prior_draws)).shape)
