"""The cnn_basics rubric: public checks (shipped to students) and hidden ones."""
