# Early stopping on the validation loss, the best model kept on disk, and a backup from
# which an interrupted fit resumes. Validation digits come from the training data.
import tempfile
from pathlib import Path

import keras
import numpy as np

from snippets import VAE, build_dense_decoder, build_dense_encoder, training_callbacks

x = (np.random.default_rng(0).random((512, 784)) < 0.2).astype("float32")
vae = VAE(build_dense_encoder(latent_dim=2), build_dense_decoder(latent_dim=2), seed=0)
vae.compile(optimizer="adam")
_ = vae(x[:1])  # built before BackupAndRestore looks for a backup to restore
with tempfile.TemporaryDirectory() as folder:
    callbacks = training_callbacks(folder, patience=2)
    history = vae.fit(x[:448], epochs=3, batch_size=64, validation_data=x[448:],
                      callbacks=callbacks, verbose=0)
    best = keras.saving.load_model(Path(folder) / "best.keras", safe_mode=True)

print("validation -ELBO per epoch:", [round(v, 1) for v in history.history["val_loss"]])
print("best model reloaded:", type(best).__name__)
