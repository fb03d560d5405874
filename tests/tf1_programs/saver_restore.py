"""Rebuild the graph of saver_train.py and restore its latest checkpoint (run in a fresh process).
Usage: saver_restore.py CHECKPOINT_DIR"""

import json
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
global_step = tf.Variable(0, name="global_step", trainable=False)
accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), tf.argmax(y, 1)), tf.float32))
saver = tf.train.Saver()

with tf.Session() as sess:
    ckpt = tf.train.get_checkpoint_state(ckpt_dir)
    if ckpt and ckpt.model_checkpoint_path:
        saver.restore(sess, ckpt.model_checkpoint_path)
        print("Model restored from", ckpt.model_checkpoint_path)
    acc = sess.run(accuracy, feed_dict={x: data.test.images, y: data.test.labels})
    print("RESULT", json.dumps({"accuracy": float(acc), "global_step": int(sess.run(global_step)),
                                "kept": len(ckpt.all_model_checkpoint_paths)}))
