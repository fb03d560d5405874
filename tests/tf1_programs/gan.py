"""A small GAN that learns a 1-D Gaussian: separate optimizers over var_list, sigmoid losses."""

import json

import numpy as np

import nnctl as tf

tf.set_random_seed(3)
rng = np.random.RandomState(0)
batch_size, noise_dim, hidden = 64, 4, 16
real_mean, real_std = 3.0, 0.5


def xavier(shape):
    return tf.random_normal(shape=shape, stddev=1.0 / np.sqrt(shape[0] / 2.0))


G = {"h": tf.Variable(xavier([noise_dim, hidden])), "hb": tf.Variable(tf.zeros([hidden])),
     "o": tf.Variable(xavier([hidden, 1])), "ob": tf.Variable(tf.zeros([1]))}
D = {"h": tf.Variable(xavier([1, hidden])), "hb": tf.Variable(tf.zeros([hidden])),
     "o": tf.Variable(xavier([hidden, 1])), "ob": tf.Variable(tf.zeros([1]))}


def generator(z):
    return tf.matmul(tf.nn.relu(tf.matmul(z, G["h"]) + G["hb"]), G["o"]) + G["ob"]


def discriminator(x):
    return tf.matmul(tf.nn.leaky_relu(tf.matmul(x, D["h"]) + D["hb"]), D["o"]) + D["ob"]


gen_input = tf.placeholder(tf.float32, shape=[None, noise_dim], name="input_noise")
disc_input = tf.placeholder(tf.float32, shape=[None, 1], name="disc_input")
gen_sample = generator(gen_input)
d_real, d_fake = discriminator(disc_input), discriminator(gen_sample)
disc_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(logits=d_real, labels=tf.ones_like(d_real))
                           + tf.nn.sigmoid_cross_entropy_with_logits(logits=d_fake, labels=tf.zeros_like(d_fake)))
gen_loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(logits=d_fake, labels=tf.ones_like(d_fake)))
train_gen = tf.train.AdamOptimizer(0.005, beta1=0.5).minimize(gen_loss, var_list=list(G.values()))
train_disc = tf.train.AdamOptimizer(0.005, beta1=0.5).minimize(disc_loss, var_list=list(D.values()))

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for i in range(1, 1501):
        real = rng.normal(real_mean, real_std, size=(batch_size, 1)).astype(np.float32)
        z = rng.uniform(-1.0, 1.0, size=[batch_size, noise_dim]).astype(np.float32)
        _, _, gl, dl = sess.run([train_gen, train_disc, gen_loss, disc_loss],
                                feed_dict={disc_input: real, gen_input: z})
        if i % 500 == 0:
            print("Step %i: Generator Loss: %f, Discriminator Loss: %f" % (i, gl, dl))
    z = rng.uniform(-1.0, 1.0, size=[2000, noise_dim]).astype(np.float32)
    samples = sess.run(gen_sample, feed_dict={gen_input: z})
    print("RESULT", json.dumps({"mean": float(samples.mean()), "std": float(samples.std())}))
