# Warm the KL weight up over three epochs; the logs record beta for every epoch.
rng = np.random.default_rng(0)
x = (rng.random((256, 784)) < 0.2).astype("float32")
vae = VAE(build_dense_encoder(latent_dim=2, hidden_units=(64,)), build_dense_decoder(latent_dim=2, hidden_units=(64,)), seed=0)
vae.compile(optimizer=keras.optimizers.Adam(1e-3))
history = vae.fit(x, epochs=4, batch_size=64, callbacks=[KLWarmup(warmup_epochs=3), NonFiniteLossGuard()], verbose=0)
print("beta per epoch:", [round(beta, 3) for beta in history.history["beta"]])
assert np.allclose(history.history["beta"], [1 / 3, 2 / 3, 1.0, 1.0])
