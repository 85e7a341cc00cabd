"""cnn_blocks: receptive fields, global average pooling, a conv-BN block, batching images, training within a budget."""
