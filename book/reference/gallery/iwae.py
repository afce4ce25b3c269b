# Estimate log p(x) of held-out examples: the IWAE bound tightens with k, and is never
# below the multi-sample ELBO computed from the same draws.
rng = np.random.default_rng(0)
x = (rng.random((512, 784)) < 0.2).astype("float32")
vae = VAE(build_dense_encoder(latent_dim=4, hidden_units=(64,)), build_dense_decoder(latent_dim=4, hidden_units=(64,)), seed=0)
vae.compile(optimizer=keras.optimizers.Adam(1e-3))
vae.fit(x[:448], epochs=2, batch_size=64, verbose=0)

held_out = x[448:]
summary = log_weight_statistics(vae, held_out, k=100, seed=1)
assert np.all(summary.elbo <= summary.iwae + 1e-9)
for name, values in (("-ELBO", -summary.elbo), ("-IWAE (k = 100)", -summary.iwae)):
    estimate = mean_and_standard_error(values)
    bits = nats_to_bits_per_dim(estimate.mean, 784)
    print(f"{name}: {estimate.mean:.1f} ± {estimate.standard_error:.1f} nats, {bits:.3f} bits/dim")
