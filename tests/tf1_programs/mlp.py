"""A two-hidden-layer perceptron (the classic multilayer_perceptron.py), weights in dicts."""

import json

import numpy as np
from digits_data import read_data_sets

import nnctl as tf

data = read_data_sets(one_hot=True)
learning_rate, training_epochs, batch_size = 0.005, 12, 64
n_hidden_1, n_hidden_2, n_input, n_classes = 64, 32, 64, 10
rng = np.random.RandomState(3)


def init(*shape):
    return (rng.randn(*shape) * 0.1).astype(np.float32)


X = tf.placeholder("float", [None, n_input])
Y = tf.placeholder("float", [None, n_classes])
weights = {"h1": tf.Variable(init(n_input, n_hidden_1)), "h2": tf.Variable(init(n_hidden_1, n_hidden_2)),
           "out": tf.Variable(init(n_hidden_2, n_classes))}
biases = {"b1": tf.Variable(tf.zeros([n_hidden_1])), "b2": tf.Variable(tf.zeros([n_hidden_2])),
          "out": tf.Variable(tf.zeros([n_classes]))}


def multilayer_perceptron(x):
    layer_1 = tf.nn.relu(tf.add(tf.matmul(x, weights["h1"]), biases["b1"]))
    layer_2 = tf.nn.relu(tf.add(tf.matmul(layer_1, weights["h2"]), biases["b2"]))
    return tf.matmul(layer_2, weights["out"]) + biases["out"]


logits = multilayer_perceptron(X)
loss_op = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(logits=logits, labels=Y))
optimizer = tf.train.AdamOptimizer(learning_rate=learning_rate)
train_op = optimizer.minimize(loss_op)
init_op = tf.global_variables_initializer()

with tf.Session() as sess:
    sess.run(init_op)
    for epoch in range(training_epochs):
        avg_cost = 0.0
        total_batch = int(data.train.num_examples / batch_size)
        for i in range(total_batch):
            batch_x, batch_y = data.train.next_batch(batch_size)
            _, c = sess.run([train_op, loss_op], feed_dict={X: batch_x, Y: batch_y})
            avg_cost += c / total_batch
        print("Epoch:", "%04d" % (epoch + 1), f"cost={avg_cost:.9f}")
    pred = tf.nn.softmax(logits)
    correct_prediction = tf.equal(tf.argmax(pred, 1), tf.argmax(Y, 1))
    accuracy = tf.reduce_mean(tf.cast(correct_prediction, "float"))
    acc = accuracy.eval({X: data.test.images, Y: data.test.labels})
    print("Accuracy:", acc)
    print("RESULT", json.dumps({"accuracy": float(acc), "cost": float(avg_cost)}))
