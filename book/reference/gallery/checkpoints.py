# Early stopping on the validation loss, the best model saved to disk, and a backup that
# lets an interrupted fit resume. Validation data come from the training data, never the test set.
import tempfile
from pathlib import Path

rng = np.random.default_rng(0)
x = (rng.random((512, 784)) < 0.2).astype("float32")
x_train, x_validation = x[:448], x[448:]
vae = VAE(build_dense_encoder(latent_dim=2, hidden_units=(64,)), build_dense_decoder(latent_dim=2, hidden_units=(64,)), seed=0)
vae.compile(optimizer=keras.optimizers.Adam(1e-3))
vae(x_train[:1])  # build the model before BackupAndRestore looks for a backup
with tempfile.TemporaryDirectory() as folder:
    history = vae.fit(x_train, epochs=3, batch_size=64, validation_data=x_validation,
                      callbacks=training_callbacks(folder, patience=2), verbose=0)
    best = keras.saving.load_model(Path(folder) / "best.keras", safe_mode=True)
print("validation -ELBO per epoch:", [round(value, 1) for value in history.history["val_loss"]])
assert isinstance(best, VAE)
