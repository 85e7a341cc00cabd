"""cnn_basics: output sizes, a tiny CNN, and pretrained AlexNet (top-5, embedding, fine-tuning)."""
