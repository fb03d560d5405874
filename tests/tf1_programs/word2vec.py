"""word2vec skip-gram with embedding_lookup and nce_loss on a tiny synthetic corpus, then cosine
similarity of normalized embeddings (the basic word2vec tutorial's shape)."""

import json

import numpy as np

import nnctl as tf

rng = np.random.RandomState(0)
vocabulary_size, embedding_size, batch_size, num_sampled = 30, 16, 128, 8
# two "topics": words 0-14 co-occur with each other, words 15-29 with each other
topic = lambda w: 0 if w < 15 else 1  # noqa: E731


def generate_batch():
    centers = rng.randint(0, vocabulary_size, size=batch_size)
    contexts = np.array([rng.randint(0, 15) + 15 * topic(c) for c in centers])
    return centers.astype(np.int32), contexts.reshape(-1, 1).astype(np.int64)


tf.set_random_seed(1)
train_inputs = tf.placeholder(tf.int32, shape=[batch_size])
train_labels = tf.placeholder(tf.int64, shape=[batch_size, 1])
embeddings = tf.Variable(tf.random_uniform([vocabulary_size, embedding_size], -1.0, 1.0))
embed = tf.nn.embedding_lookup(embeddings, train_inputs)
nce_weights = tf.Variable(tf.truncated_normal([vocabulary_size, embedding_size],
                                              stddev=1.0 / np.sqrt(embedding_size)))
nce_biases = tf.Variable(tf.zeros([vocabulary_size]))
loss = tf.reduce_mean(tf.nn.nce_loss(weights=nce_weights, biases=nce_biases, labels=train_labels, inputs=embed,
                                     num_sampled=num_sampled, num_classes=vocabulary_size))
optimizer = tf.train.GradientDescentOptimizer(1.0).minimize(loss)
norm = tf.sqrt(tf.reduce_sum(tf.square(embeddings), 1, keepdims=True))
normalized_embeddings = embeddings / norm
similarity = tf.matmul(normalized_embeddings, normalized_embeddings, transpose_b=True)

with tf.Session() as session:
    tf.global_variables_initializer().run()
    average_loss = 0
    for step in range(1, 601):
        batch_inputs, batch_labels = generate_batch()
        _, loss_val = session.run([optimizer, loss], feed_dict={train_inputs: batch_inputs,
                                                                train_labels: batch_labels})
        average_loss += loss_val
        if step % 200 == 0:
            print("Average loss at step", step, ":", average_loss / 200)
            average_loss = 0
    sim = similarity.eval()
    same = np.mean([sim[i, j] for i in range(30) for j in range(30) if i != j and topic(i) == topic(j)])
    other = np.mean([sim[i, j] for i in range(30) for j in range(30) if topic(i) != topic(j)])
    print("RESULT", json.dumps({"same_topic": float(same), "other_topic": float(other)}))
