# Train a dense VAE on binary 28 x 28 images, check the loss is -ELBO = reconstruction + KL,
# then save it and reload it in safe mode. Replace `x` by your data: (n, 784) values in [0, 1].
import tempfile
from pathlib import Path

rng = np.random.default_rng(0)
x = (rng.random((512, 784)) < 0.2).astype("float32")

vae = VAE(build_dense_encoder(latent_dim=2), build_dense_decoder(latent_dim=2), seed=0)
vae.compile(optimizer=keras.optimizers.Adam(1e-3))
history = vae.fit(x, epochs=2, batch_size=128, validation_data=x[:128], callbacks=[NonFiniteLossGuard()], verbose=0)
result = vae.evaluate(x[:128], batch_size=128, verbose=0, return_dict=True)
assert abs(result["loss"] - (result["reconstruction"] + result["kl"])) < 1e-3 * result["loss"]
print(f"-ELBO {result['loss']:.1f} nats = {result['reconstruction']:.1f} + {result['kl']:.1f} KL")

with tempfile.TemporaryDirectory() as folder:
    vae.save(Path(folder) / "vae.keras")
    restored = keras.saving.load_model(Path(folder) / "vae.keras", safe_mode=True)
assert np.array_equal(restored.encode(x[:8]), vae.encode(x[:8]))
print("generated images:", vae.generate(4).shape)
