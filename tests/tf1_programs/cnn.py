"""A convolutional network on the 8x8 digits (the 'Deep MNIST for experts' layout: conv, pool,
conv, pool, dense with dropout fed through a keep_prob placeholder)."""

import json

import numpy as np
from digits_data import read_data_sets

import nnctl as tf

data = read_data_sets(one_hot=True)
tf.set_random_seed(0)
rng = np.random.RandomState(4)


def weight_variable(shape):
    return tf.Variable((rng.randn(*shape) * 0.1).astype(np.float32))


def bias_variable(shape):
    return tf.Variable(tf.constant(0.1, shape=shape))


def conv2d(x, W):
    return tf.nn.conv2d(x, W, strides=[1, 1, 1, 1], padding="SAME")


def max_pool_2x2(x):
    return tf.nn.max_pool(x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME")


x = tf.placeholder(tf.float32, shape=[None, 64])
y_ = tf.placeholder(tf.float32, shape=[None, 10])
keep_prob = tf.placeholder(tf.float32)
x_image = tf.reshape(x, [-1, 8, 8, 1])
W_conv1, b_conv1 = weight_variable([3, 3, 1, 16]), bias_variable([16])
h_pool1 = max_pool_2x2(tf.nn.relu(conv2d(x_image, W_conv1) + b_conv1))
W_conv2, b_conv2 = weight_variable([3, 3, 16, 32]), bias_variable([32])
h_pool2 = max_pool_2x2(tf.nn.relu(conv2d(h_pool1, W_conv2) + b_conv2))
h_flat = tf.reshape(h_pool2, [-1, 2 * 2 * 32])
W_fc1, b_fc1 = weight_variable([2 * 2 * 32, 64]), bias_variable([64])
h_fc1_drop = tf.nn.dropout(tf.nn.relu(tf.matmul(h_flat, W_fc1) + b_fc1), keep_prob)
W_fc2, b_fc2 = weight_variable([64, 10]), bias_variable([10])
y_conv = tf.matmul(h_fc1_drop, W_fc2) + b_fc2

cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y_conv))
train_step = tf.train.AdamOptimizer(2e-3).minimize(cross_entropy)
correct_prediction = tf.equal(tf.argmax(y_conv, 1), tf.argmax(y_, 1))
accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for i in range(300):
        batch = data.train.next_batch(50)
        if i % 100 == 0:
            train_accuracy = accuracy.eval(feed_dict={x: batch[0], y_: batch[1], keep_prob: 1.0})
            print("step %d, training accuracy %g" % (i, train_accuracy))
        train_step.run(feed_dict={x: batch[0], y_: batch[1], keep_prob: 0.8})
    acc = accuracy.eval(feed_dict={x: data.test.images, y_: data.test.labels, keep_prob: 1.0})
    print("test accuracy %g" % acc)
    print("RESULT", json.dumps({"accuracy": float(acc)}))
