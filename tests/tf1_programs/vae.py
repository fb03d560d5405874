"""A variational autoencoder (the reparameterisation trick with tf.random_normal(tf.shape(...)))."""

import json

import numpy as np
from digits_data import read_data_sets

import nnctl as tf

data = read_data_sets(one_hot=True)
tf.set_random_seed(7)
image_dim, hidden_dim, latent_dim = 64, 48, 4
learning_rate, num_steps, batch_size = 0.005, 500, 64


def glorot_init(shape):
    return tf.random_normal(shape=shape, stddev=1.0 / np.sqrt(shape[0] / 2.0))


weights = {"encoder_h1": tf.Variable(glorot_init([image_dim, hidden_dim])),
           "z_mean": tf.Variable(glorot_init([hidden_dim, latent_dim])),
           "z_std": tf.Variable(glorot_init([hidden_dim, latent_dim])),
           "decoder_h1": tf.Variable(glorot_init([latent_dim, hidden_dim])),
           "decoder_out": tf.Variable(glorot_init([hidden_dim, image_dim]))}
biases = {"encoder_b1": tf.Variable(glorot_init([hidden_dim])), "z_mean": tf.Variable(glorot_init([latent_dim])),
          "z_std": tf.Variable(glorot_init([latent_dim])), "decoder_b1": tf.Variable(glorot_init([hidden_dim])),
          "decoder_out": tf.Variable(glorot_init([image_dim]))}

input_image = tf.placeholder(tf.float32, shape=[None, image_dim])
encoder = tf.nn.tanh(tf.matmul(input_image, weights["encoder_h1"]) + biases["encoder_b1"])
z_mean = tf.matmul(encoder, weights["z_mean"]) + biases["z_mean"]
z_std = tf.matmul(encoder, weights["z_std"]) + biases["z_std"]
eps = tf.random_normal(tf.shape(z_std), dtype=tf.float32, mean=0.0, stddev=1.0, name="epsilon")
z = z_mean + tf.exp(z_std / 2) * eps
decoder = tf.nn.tanh(tf.matmul(z, weights["decoder_h1"]) + biases["decoder_b1"])
decoder = tf.nn.sigmoid(tf.matmul(decoder, weights["decoder_out"]) + biases["decoder_out"])


def vae_loss(x_reconstructed, x_true):
    encode_decode_loss = x_true * tf.log(1e-10 + x_reconstructed) + (1 - x_true) * tf.log(1e-10 + 1 - x_reconstructed)
    encode_decode_loss = -tf.reduce_sum(encode_decode_loss, 1)
    kl_div_loss = 1 + z_std - tf.square(z_mean) - tf.exp(z_std)
    kl_div_loss = -0.5 * tf.reduce_sum(kl_div_loss, 1)
    return tf.reduce_mean(encode_decode_loss + kl_div_loss)


loss_op = vae_loss(decoder, input_image)
train_op = tf.train.RMSPropOptimizer(learning_rate=learning_rate).minimize(loss_op)

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    first = sess.run(loss_op, feed_dict={input_image: data.test.images})
    for i in range(1, num_steps + 1):
        batch_x, _ = data.train.next_batch(batch_size)
        _, l = sess.run([train_op, loss_op], feed_dict={input_image: batch_x})
        if i % 100 == 0:
            print("Step %i, Loss: %f" % (i, l))
    test = sess.run(loss_op, feed_dict={input_image: data.test.images})
    print("RESULT", json.dumps({"first_loss": float(first), "test_loss": float(test)}))
