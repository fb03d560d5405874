"""The classic recurrent_network.py: an LSTM reads each image row by row (tf.unstack + static_rnn)."""

import json

from digits_data import read_data_sets

import nnctl as tf

data = read_data_sets(one_hot=True)
learning_rate, training_steps, batch_size = 0.01, 400, 64
num_input, timesteps, num_hidden, num_classes = 8, 8, 32, 10
tf.set_random_seed(0)

X = tf.placeholder("float", [None, timesteps, num_input])
Y = tf.placeholder("float", [None, num_classes])
weights = {"out": tf.Variable(tf.random_normal([num_hidden, num_classes]))}
biases = {"out": tf.Variable(tf.random_normal([num_classes]))}


def RNN(x, weights, biases):
    x = tf.unstack(x, timesteps, 1)
    lstm_cell = tf.nn.rnn_cell.BasicLSTMCell(num_hidden, forget_bias=1.0)
    outputs, states = tf.nn.static_rnn(lstm_cell, x, dtype=tf.float32)
    return tf.matmul(outputs[-1], weights["out"]) + biases["out"]


logits = RNN(X, weights, biases)
prediction = tf.nn.softmax(logits)
loss_op = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(logits=logits, labels=Y))
optimizer = tf.train.GradientDescentOptimizer(learning_rate=learning_rate * 20)
train_op = optimizer.minimize(loss_op)
correct_pred = tf.equal(tf.argmax(prediction, 1), tf.argmax(Y, 1))
accuracy = tf.reduce_mean(tf.cast(correct_pred, tf.float32))
init = tf.global_variables_initializer()

with tf.Session() as sess:
    sess.run(init)
    first = None
    for step in range(1, training_steps + 1):
        batch_x, batch_y = data.train.next_batch(batch_size)
        batch_x = batch_x.reshape((batch_size, timesteps, num_input))
        _, loss = sess.run([train_op, loss_op], feed_dict={X: batch_x, Y: batch_y})
        first = loss if first is None else first
        if step % 100 == 0:
            print(f"Step {step}, Minibatch Loss= {loss:.4f}")
    test_x = data.test.images.reshape((-1, timesteps, num_input))
    acc = sess.run(accuracy, feed_dict={X: test_x, Y: data.test.labels})
    names = [v.name for v in tf.trainable_variables()]
    print("RESULT " + json.dumps({"accuracy": float(acc), "first_loss": float(first), "last_loss": float(loss),
                                  "variables": names}))
