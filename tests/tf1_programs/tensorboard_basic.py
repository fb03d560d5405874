"""TensorBoard logging as in tensorboard_basic.py: name scopes, tf.summary.scalar / histogram,
merge_all, a FileWriter with the graph, add_summary per step. The log folder is $LOGDIR."""

import json
import os
import tempfile

from digits_data import read_data_sets

import nnctl as tf

logs_path = os.environ.get("LOGDIR") or tempfile.mkdtemp(prefix="tensorflow_logs")
data = read_data_sets(one_hot=True)
learning_rate, training_epochs, batch_size = 0.5, 5, 100

x = tf.placeholder(tf.float32, [None, 64], name="InputData")
y = tf.placeholder(tf.float32, [None, 10], name="LabelData")
W = tf.Variable(tf.zeros([64, 10]), name="Weights")
b = tf.Variable(tf.zeros([10]), name="Bias")
with tf.name_scope("Model"):
    pred = tf.nn.softmax(tf.matmul(x, W) + b)
with tf.name_scope("Loss"):
    cost = tf.reduce_mean(-tf.reduce_sum(y * tf.log(pred + 1e-10), reduction_indices=1))
with tf.name_scope("SGD"):
    optimizer = tf.train.GradientDescentOptimizer(learning_rate).minimize(cost)
with tf.name_scope("Accuracy"):
    acc = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(pred, 1), tf.argmax(y, 1)), tf.float32))

tf.summary.scalar("loss", cost)
tf.summary.scalar("accuracy", acc)
tf.summary.histogram("weights", W)
merged_summary_op = tf.summary.merge_all()

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    summary_writer = tf.summary.FileWriter(logs_path, graph=tf.get_default_graph())
    step = 0
    for epoch in range(training_epochs):
        total_batch = int(data.train.num_examples / batch_size)
        for i in range(total_batch):
            batch_xs, batch_ys = data.train.next_batch(batch_size)
            _, c, summary = sess.run([optimizer, cost, merged_summary_op], feed_dict={x: batch_xs, y: batch_ys})
            summary_writer.add_summary(summary, epoch * total_batch + i)
            step += 1
    summary_writer.close()
    final = sess.run(acc, feed_dict={x: data.test.images, y: data.test.labels})
    print("RESULT", json.dumps({"accuracy": float(final), "steps": step, "last_loss": float(c)}))
