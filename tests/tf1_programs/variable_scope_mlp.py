"""Weights shared through tf.variable_scope / tf.get_variable: one network built twice (training
graph and evaluation graph) with reuse, initializers given as TF1 initializer objects."""

import json

import numpy as np
from digits_data import read_data_sets

import nnctl as tf

data = read_data_sets(one_hot=True)
rng = np.random.RandomState(6)
init_h = rng.randn(64, 32).astype(np.float32) * 0.1
init_o = rng.randn(32, 10).astype(np.float32) * 0.1


def fc(x, n_out, init, name, activation=None):
    with tf.variable_scope(name):
        w = tf.get_variable("weights", [x.get_shape()[1], n_out], initializer=tf.constant_initializer(init))
        b = tf.get_variable("biases", [n_out], initializer=tf.zeros_initializer())
        out = tf.matmul(x, w) + b
        return activation(out) if activation is not None else out


def network(x):
    h = fc(x, 32, init_h, "hidden", tf.nn.tanh)
    return fc(h, 10, init_o, "out")


x_train = tf.placeholder(tf.float32, [None, 64])
y_train = tf.placeholder(tf.float32, [None, 10])
x_test = tf.placeholder(tf.float32, [None, 64])
with tf.variable_scope("model"):
    logits = network(x_train)
with tf.variable_scope("model", reuse=True):
    test_logits = network(x_test)
with tf.variable_scope("model", reuse=tf.AUTO_REUSE):
    again = network(x_test)

loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y_train, logits=logits))
train_op = tf.train.MomentumOptimizer(0.05, momentum=0.9).minimize(loss)
y_test = tf.placeholder(tf.float32, [None, 10])
accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(test_logits, 1), tf.argmax(y_test, 1)), tf.float32))
names = sorted(v.name for v in tf.trainable_variables())

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for step in range(300):
        bx, by = data.train.next_batch(64)
        _, l = sess.run([train_op, loss], feed_dict={x_train: bx, y_train: by})
    acc = sess.run(accuracy, feed_dict={x_test: data.test.images, y_test: data.test.labels})
    same = bool(np.array_equal(sess.run(test_logits, {x_test: data.test.images[:5]}),
                               sess.run(again, {x_test: data.test.images[:5]})))
    print("RESULT", json.dumps({"accuracy": float(acc), "loss": float(l), "variables": names, "shared": same}))
