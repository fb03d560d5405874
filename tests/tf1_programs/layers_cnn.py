"""A CNN written with tf.layers (conv2d, max_pooling2d, flatten, dense, dropout with a training
placeholder) inside a variable_scope, trained with Adam on the digits."""

import json

from digits_data import read_data_sets

import nnctl as tf

data = read_data_sets(one_hot=True)
tf.set_random_seed(1)
x = tf.placeholder(tf.float32, [None, 64])
y = tf.placeholder(tf.float32, [None, 10])
is_training = tf.placeholder_with_default(False, [], name="is_training")


def conv_net(x, n_classes, dropout, reuse, is_training):
    with tf.variable_scope("ConvNet", reuse=reuse):
        x = tf.reshape(x, shape=[-1, 8, 8, 1])
        conv1 = tf.layers.conv2d(x, 16, 3, padding="same", activation=tf.nn.relu)
        conv1 = tf.layers.max_pooling2d(conv1, 2, 2)
        conv2 = tf.layers.conv2d(conv1, 32, 3, padding="same", activation=tf.nn.relu)
        conv2 = tf.layers.max_pooling2d(conv2, 2, 2)
        fc1 = tf.layers.flatten(conv2)
        fc1 = tf.layers.dense(fc1, 64, activation=tf.nn.relu)
        fc1 = tf.layers.dropout(fc1, rate=dropout, training=is_training)
        return tf.layers.dense(fc1, n_classes)


logits = conv_net(x, 10, 0.2, reuse=False, is_training=is_training)
loss_op = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(logits=logits, labels=y))
train_op = tf.train.AdamOptimizer(learning_rate=0.003).minimize(loss_op)
correct_pred = tf.equal(tf.argmax(logits, 1), tf.argmax(y, 1))
accuracy = tf.reduce_mean(tf.cast(correct_pred, tf.float32))

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for step in range(1, 301):
        batch_x, batch_y = data.train.next_batch(64)
        sess.run(train_op, feed_dict={x: batch_x, y: batch_y, is_training: True})
    acc = sess.run(accuracy, feed_dict={x: data.test.images, y: data.test.labels})
    n_vars = len(tf.trainable_variables())
    print("RESULT", json.dumps({"accuracy": float(acc), "trainable_variables": n_vars,
                                "first": tf.trainable_variables()[0].name}))
