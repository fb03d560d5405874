"""tf.app.flags + tf.app.run, the layout of the TF1 tutorials' fully_connected_feed.py."""

import json

import numpy as np

import nnctl as tf

flags = tf.app.flags
FLAGS = flags.FLAGS
flags.DEFINE_float("learning_rate", 0.1, "Initial learning rate.")
flags.DEFINE_integer("max_steps", 100, "Number of steps to run trainer.")
flags.DEFINE_string("train_dir", "/tmp/unused", "Directory to put the training data.")
flags.DEFINE_boolean("fake_data", False, "If true, uses fake data for unit testing.")


def run_training():
    tf.logging.set_verbosity(tf.logging.INFO)
    with tf.Graph().as_default():
        x = tf.placeholder(tf.float32, [None, 1])
        w = tf.Variable(tf.zeros([1, 1]))
        loss = tf.reduce_mean(tf.square(tf.matmul(x, w) - 2.0 * x))
        train_op = tf.train.GradientDescentOptimizer(FLAGS.learning_rate).minimize(loss)
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            for step in range(FLAGS.max_steps):
                _, l = sess.run([train_op, loss], feed_dict={x: np.ones((4, 1), np.float32)})
                if step % 50 == 0:
                    tf.logging.info("step %d: loss = %.4f", step, l)
            print("RESULT", json.dumps({"w": float(sess.run(w)[0, 0]), "steps": FLAGS.max_steps,
                                        "fake_data": FLAGS.fake_data}))


def main(_):
    run_training()


if __name__ == "__main__":
    tf.app.run()
