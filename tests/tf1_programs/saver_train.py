"""Train a softmax classifier and save it with tf.train.Saver (global_step, max_to_keep); a second
program (saver_restore.py) restores it in a fresh process. Usage: saver_train.py CHECKPOINT_DIR"""

import json
import os
import sys

from digits_data import read_data_sets

import nnctl as tf

ckpt_dir = sys.argv[1]
data = read_data_sets(one_hot=True)
x = tf.placeholder(tf.float32, [None, 64], name="x")
y = tf.placeholder(tf.float32, [None, 10], name="y")
W = tf.Variable(tf.zeros([64, 10]), name="W")
b = tf.Variable(tf.zeros([10]), name="b")
logits = tf.add(tf.matmul(x, W), b, name="logits")
loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=logits))
global_step = tf.Variable(0, name="global_step", trainable=False)
train_op = tf.train.GradientDescentOptimizer(0.5).minimize(loss, global_step=global_step)
accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), tf.argmax(y, 1)), tf.float32))
saver = tf.train.Saver(max_to_keep=2)

if not os.path.exists(ckpt_dir):
    os.makedirs(ckpt_dir)
with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for step in range(300):
        bx, by = data.train.next_batch(100)
        sess.run(train_op, feed_dict={x: bx, y: by})
        if (step + 1) % 100 == 0:
            path = saver.save(sess, os.path.join(ckpt_dir, "model.ckpt"), global_step=global_step)
            print("Model saved in path: %s" % path)
    acc = sess.run(accuracy, feed_dict={x: data.test.images, y: data.test.labels})
    print("RESULT", json.dumps({"accuracy": float(acc), "path": path}))
