"""FLOP counts: each counted layer matches its hand formula, nested models add up, bad input is named."""

from __future__ import annotations

import keras
import pytest
from keras import layers

from snippets.chapters.flops import (
    TRAINING_TO_FORWARD_RATIO,
    forward_flops,
    layer_flops,
    training_flops_per_sample,
)
from snippets.conv import build_conv_decoder, build_conv_encoder
from snippets.models import VAE, build_dense_decoder, build_dense_encoder


def single_layer_model(input_shape: tuple, layer: keras.layers.Layer) -> keras.Model:
    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, layer(inputs))


def test_dense_counts_two_flops_per_weight():
    model = single_layer_model((784,), layers.Dense(256, activation="relu"))
    assert forward_flops(model) == 2 * 784 * 256
    assert layer_flops(model.layers[-1]) == 2 * 784 * 256


def test_dense_on_a_sequence_counts_every_position():
    model = single_layer_model((10, 8), layers.Dense(4))
    assert forward_flops(model) == 10 * 2 * 8 * 4


@pytest.mark.parametrize(
    "strides, padding, out_side",
    [(1, "same", 28), (2, "same", 14), (1, "valid", 26), (2, "valid", 13)],
)
def test_conv2d_counts_the_hand_formula(strides, padding, out_side):
    layer = layers.Conv2D(32, 3, strides=strides, padding=padding)
    model = single_layer_model((28, 28, 3), layer)
    assert tuple(layer.output.shape[1:3]) == (out_side, out_side)
    # 2 * k_h * k_w * c_in * c_out * H_out * W_out
    assert forward_flops(model) == 2 * 3 * 3 * 3 * 32 * out_side * out_side


def test_conv2d_with_a_rectangular_kernel_and_groups():
    model = single_layer_model((12, 10, 8), layers.Conv2D(6, (3, 5), groups=2))
    # Each output channel sees c_in / groups = 4 input channels; output 10 x 6.
    assert forward_flops(model) == 2 * 3 * 5 * 4 * 6 * 10 * 6


def test_conv2d_channels_first_reads_the_spatial_axes():
    layer = layers.Conv2D(8, 3, strides=2, padding="same", data_format="channels_first")
    model = single_layer_model((3, 28, 28), layer)
    assert forward_flops(model) == 2 * 3 * 3 * 3 * 8 * 14 * 14


def test_conv1d_counts_like_conv2d_with_one_spatial_axis():
    model = single_layer_model((20, 4), layers.Conv1D(8, 5, padding="same"))
    assert forward_flops(model) == 2 * 5 * 4 * 8 * 20


@pytest.mark.parametrize("strides, padding", [(2, "same"), (1, "same"), (2, "valid")])
def test_conv2d_transpose_counts_the_input_pixels(strides, padding):
    layer = layers.Conv2DTranspose(16, 3, strides=strides, padding=padding)
    model = single_layer_model((7, 7, 64), layer)
    # 2 * k_h * k_w * c_in * c_out * H_in * W_in, whatever the output size
    assert forward_flops(model) == 2 * 3 * 3 * 64 * 16 * 7 * 7


def test_elementwise_layers_count_nothing():
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Flatten()(inputs)
    x = layers.ReLU()(x)
    x = layers.Reshape((28, 28, 1))(x)
    model = keras.Model(inputs, layers.Activation("sigmoid")(x))
    assert forward_flops(model) == 0
    assert all(layer_flops(layer) == 0 for layer in model.layers)


def test_nested_models_sum_their_parts():
    encoder = build_dense_encoder()
    decoder = build_dense_decoder()
    inputs = keras.Input(shape=(784,))
    z_mean, _ = encoder(inputs)
    outer = keras.Model(inputs, decoder(z_mean))
    assert forward_flops(outer) == forward_flops(encoder) + forward_flops(decoder)
    # A sequential model wrapping the functional one, one level deeper still.
    wrapped = keras.Sequential([keras.Input(shape=(784,)), outer])
    assert forward_flops(wrapped) == forward_flops(outer)


def test_the_books_dense_vae_gets_the_hand_computed_count():
    encoder, decoder = build_dense_encoder(), build_dense_decoder()
    # encoder 784 -> 256 -> (2, 2); decoder 2 -> 256 -> 784
    encoder_flops = 2 * 784 * 256 + 2 * (2 * 256 * 2)
    decoder_flops = 2 * 2 * 256 + 2 * 256 * 784
    assert forward_flops(encoder) == encoder_flops == 403_456
    assert forward_flops(decoder) == decoder_flops == 402_432
    vae = VAE(encoder, decoder, seed=0)
    # The subclassed VAE need not be built: its encoder and decoder are.
    assert forward_flops(vae) == encoder_flops + decoder_flops
    assert training_flops_per_sample(vae) == 3 * (encoder_flops + decoder_flops) == 2_417_664
    assert TRAINING_TO_FORWARD_RATIO == 3


def test_the_books_conv_vae_gets_the_hand_computed_count():
    vae = VAE(build_conv_encoder(), build_conv_decoder(), seed=0)
    encoder_flops = (
        2 * 3 * 3 * 1 * 32 * 14 * 14  # conv 28x28x1 -> 14x14x32
        + 2 * 3 * 3 * 32 * 64 * 7 * 7  # conv -> 7x7x64
        + 2 * 3136 * 16  # dense
        + 2 * (2 * 16 * 2)  # z_mean, z_log_var
    )
    decoder_flops = (
        2 * 2 * 3136  # dense to 7x7x64
        + 2 * 3 * 3 * 64 * 64 * 7 * 7  # transposed conv 7x7x64 -> 14x14x64
        + 2 * 3 * 3 * 64 * 32 * 14 * 14  # -> 28x28x32
        + 2 * 3 * 3 * 32 * 1 * 28 * 28  # logits 28x28x1
    )
    assert forward_flops(vae.encoder) == encoder_flops
    assert forward_flops(vae.decoder) == decoder_flops
    assert training_flops_per_sample(vae) == 3 * (encoder_flops + decoder_flops)


def test_an_unbuilt_model_is_named():
    model = keras.Sequential([layers.Dense(4)])
    with pytest.raises(ValueError, match=r"model 'sequential.*' is not built"):
        forward_flops(model)


def test_a_layer_never_called_on_an_input_is_named():
    layer = layers.Dense(4)
    layer.build((None, 3))
    with pytest.raises(ValueError, match=r"layer 'dense.*' has no recorded output shape"):
        layer_flops(layer)
    unbuilt = layers.Conv2D(4, 3)
    with pytest.raises(ValueError, match=r"layer 'conv2d.*' is not built"):
        layer_flops(unbuilt)


def test_an_unknown_spatial_size_is_named():
    model = single_layer_model((None, None, 1), layers.Conv2D(4, 3))
    with pytest.raises(ValueError, match="unknown size"):
        forward_flops(model)


def test_wrong_types_are_named():
    with pytest.raises(TypeError, match="model must be a keras.Model"):
        forward_flops(layers.Dense(3))
    with pytest.raises(TypeError, match="layer must be a keras.layers.Layer"):
        layer_flops("dense")


def test_a_vae_without_encoder_or_decoder_is_named():
    plain = single_layer_model((3,), layers.Dense(2))
    with pytest.raises(ValueError, match=r"vae\.encoder must be a keras.Model"):
        training_flops_per_sample(plain)

    class DecoderOnly:
        encoder = plain
        decoder = "not a model"

    with pytest.raises(ValueError, match=r"vae\.decoder must be a keras.Model"):
        training_flops_per_sample(DecoderOnly())
