# The same VAE with convolutional networks, on images of shape (n, 28, 28, 1).
import numpy as np

from snippets import VAE, build_conv_decoder, build_conv_encoder

images = (np.random.default_rng(0).random((256, 28, 28, 1)) < 0.2).astype("float32")
conv_vae = VAE(build_conv_encoder(latent_dim=2), build_conv_decoder(latent_dim=2))
conv_vae.compile(optimizer="adam")
losses = conv_vae.fit(images, epochs=2, batch_size=64, verbose=0).history["loss"]
print("loss per epoch (nats per image):", [round(value, 1) for value in losses])
print("reconstructions:", conv_vae.reconstruct(images[:4]).shape)
