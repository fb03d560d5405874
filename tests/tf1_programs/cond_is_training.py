"""Batch normalization by hand with tf.cond on an is_training placeholder: batch statistics and
moving-average updates while training, the moving averages at test time."""

import json

import numpy as np
from digits_data import read_data_sets

import nnctl as tf

data = read_data_sets(one_hot=True)
rng = np.random.RandomState(2)
x = tf.placeholder(tf.float32, [None, 64])
y = tf.placeholder(tf.float32, [None, 10])
is_training = tf.placeholder(tf.bool, [], name="is_training")

W1 = tf.Variable((rng.randn(64, 48) * 0.1).astype(np.float32))
gamma, beta = tf.Variable(tf.ones([48])), tf.Variable(tf.zeros([48]))
pop_mean = tf.Variable(tf.zeros([48]), trainable=False)
pop_var = tf.Variable(tf.ones([48]), trainable=False)
W2 = tf.Variable((rng.randn(48, 10) * 0.1).astype(np.float32))
decay = 0.9

z = tf.matmul(x, W1)


def train_branch():
    batch_mean, batch_var = tf.nn.moments(z, [0])
    train_mean = tf.assign(pop_mean, pop_mean * decay + batch_mean * (1 - decay))
    train_var = tf.assign(pop_var, pop_var * decay + batch_var * (1 - decay))
    with tf.control_dependencies([train_mean, train_var]):
        return tf.nn.batch_normalization(z, batch_mean, batch_var, beta, gamma, 1e-3)


def test_branch():
    return tf.nn.batch_normalization(z, pop_mean, pop_var, beta, gamma, 1e-3)


h = tf.nn.relu(tf.cond(is_training, train_branch, test_branch))
logits = tf.matmul(h, W2)
loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=logits))
train_op = tf.train.MomentumOptimizer(0.1, 0.9).minimize(loss)
accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), tf.argmax(y, 1)), tf.float32))

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for step in range(400):
        bx, by = data.train.next_batch(64)
        sess.run(train_op, feed_dict={x: bx, y: by, is_training: True})
    mean_before = sess.run(pop_mean)
    acc = sess.run(accuracy, feed_dict={x: data.test.images, y: data.test.labels, is_training: False})
    unchanged = bool(np.array_equal(mean_before, sess.run(pop_mean)))  # the test branch updates nothing
    print("RESULT", json.dumps({"accuracy": float(acc), "test_pass_left_averages": unchanged,
                                "pop_mean_abs": float(np.abs(mean_before).mean())}))
