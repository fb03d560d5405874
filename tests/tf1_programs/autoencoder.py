"""A stacked autoencoder on the digits (encoder 64-32-16, mirrored decoder, RMSProp), as the
classic autoencoder.py example."""

import json

import numpy as np
from digits_data import read_data_sets

import nnctl as tf

data = read_data_sets(one_hot=True)
learning_rate, num_steps, batch_size = 0.01, 400, 64
num_hidden_1, num_hidden_2, num_input = 32, 16, 64
rng = np.random.RandomState(5)


def w(*shape):
    return tf.Variable((rng.randn(*shape) * 0.3).astype(np.float32))


X = tf.placeholder("float", [None, num_input])
weights = {"encoder_h1": w(num_input, num_hidden_1), "encoder_h2": w(num_hidden_1, num_hidden_2),
           "decoder_h1": w(num_hidden_2, num_hidden_1), "decoder_h2": w(num_hidden_1, num_input)}
biases = {"encoder_b1": w(num_hidden_1), "encoder_b2": w(num_hidden_2), "decoder_b1": w(num_hidden_1),
          "decoder_b2": w(num_input)}


def encoder(x):
    layer_1 = tf.nn.sigmoid(tf.add(tf.matmul(x, weights["encoder_h1"]), biases["encoder_b1"]))
    return tf.nn.sigmoid(tf.add(tf.matmul(layer_1, weights["encoder_h2"]), biases["encoder_b2"]))


def decoder(x):
    layer_1 = tf.nn.sigmoid(tf.add(tf.matmul(x, weights["decoder_h1"]), biases["decoder_b1"]))
    return tf.nn.sigmoid(tf.add(tf.matmul(layer_1, weights["decoder_h2"]), biases["decoder_b2"]))


y_pred = decoder(encoder(X))
loss = tf.reduce_mean(tf.pow(X - y_pred, 2))
optimizer = tf.train.RMSPropOptimizer(learning_rate).minimize(loss)

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    first = sess.run(loss, feed_dict={X: data.test.images})
    for i in range(1, num_steps + 1):
        batch_x, _ = data.train.next_batch(batch_size)
        _, l = sess.run([optimizer, loss], feed_dict={X: batch_x})
        if i % 100 == 0:
            print("Step %i: Minibatch Loss: %f" % (i, l))
    test_loss = sess.run(loss, feed_dict={X: data.test.images})
    print("RESULT", json.dumps({"first_loss": float(first), "test_loss": float(test_loss)}))
