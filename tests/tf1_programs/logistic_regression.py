"""Softmax regression on the digits, as the MNIST beginners' tutorial (placeholders, batches)."""

import json

import numpy as np
from digits_data import read_data_sets

import nnctl as tf

data = read_data_sets(one_hot=True)
learning_rate, training_epochs, batch_size = 0.5, 15, 100

x = tf.placeholder(tf.float32, [None, 64])
y = tf.placeholder(tf.float32, [None, 10])
W = tf.Variable(tf.zeros([64, 10]))
b = tf.Variable(tf.zeros([10]))
pred = tf.nn.softmax(tf.matmul(x, W) + b)
cost = tf.reduce_mean(-tf.reduce_sum(y * tf.log(pred + 1e-10), reduction_indices=1))
optimizer = tf.train.GradientDescentOptimizer(learning_rate).minimize(cost)

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for epoch in range(training_epochs):
        avg_cost = 0.0
        total_batch = int(data.train.num_examples / batch_size)
        for i in range(total_batch):
            batch_xs, batch_ys = data.train.next_batch(batch_size)
            _, c = sess.run([optimizer, cost], feed_dict={x: batch_xs, y: batch_ys})
            avg_cost += c / total_batch
        print("Epoch:", "%04d" % (epoch + 1), "cost=", f"{avg_cost:.9f}")
    correct_prediction = tf.equal(tf.argmax(pred, 1), tf.argmax(y, 1))
    accuracy = tf.reduce_mean(tf.cast(correct_prediction, "float"))
    acc = accuracy.eval({x: data.test.images, y: data.test.labels})
    print("Accuracy:", acc)
    print("RESULT", json.dumps({"accuracy": float(acc), "cost": float(avg_cost),
                                "w_sum": float(np.abs(sess.run(W)).sum())}))
