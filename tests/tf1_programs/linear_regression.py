"""Linear regression, TF1 tutorial style: samples fed one at a time through placeholders."""

import json

import numpy as np

import nnctl as tf

rng = np.random.RandomState(1)
train_X = np.linspace(0, 10, 17).astype(np.float32)
train_Y = (0.3 * train_X + 0.9 + rng.normal(0, 0.1, size=17)).astype(np.float32)
n_samples = train_X.shape[0]
learning_rate, training_epochs, display_step = 0.01, 60, 20

X = tf.placeholder("float")
Y = tf.placeholder("float")
W = tf.Variable(np.float32(rng.randn()), name="weight")
b = tf.Variable(np.float32(rng.randn()), name="bias")

pred = tf.add(tf.multiply(X, W), b)
cost = tf.reduce_sum(tf.pow(pred - Y, 2)) / (2 * n_samples)
optimizer = tf.train.GradientDescentOptimizer(learning_rate).minimize(cost)
init = tf.global_variables_initializer()

with tf.Session() as sess:
    sess.run(init)
    for epoch in range(training_epochs):
        for (x, y) in zip(train_X, train_Y):
            sess.run(optimizer, feed_dict={X: x, Y: y})
        if (epoch + 1) % display_step == 0:
            c = sess.run(cost, feed_dict={X: train_X, Y: train_Y})
            print("Epoch:", "%04d" % (epoch + 1), "cost=", f"{c:.9f}", "W=", sess.run(W), "b=", sess.run(b))
    training_cost = sess.run(cost, feed_dict={X: train_X, Y: train_Y})
    print("RESULT", json.dumps({"cost": float(training_cost), "W": float(sess.run(W)), "b": float(sess.run(b))}))
