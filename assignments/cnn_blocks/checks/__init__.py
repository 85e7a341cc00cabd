"""The cnn_blocks rubric: public checks (shipped to students) and hidden ones."""
