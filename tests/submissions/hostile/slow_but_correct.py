"""Correct but slow: a slow import and slow graded calls, all within the limits; full marks."""
import time

time.sleep(2)
_conv_out, _predict_top5, _extract_embedding = conv_out, predict_top5, extract_embedding


def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    time.sleep(0.002)
    return _conv_out(in_sz, k, stride, pad, dilation)


def predict_top5(model, weights, image):
    time.sleep(0.2)
    return _predict_top5(model, weights, image)


def extract_embedding(model, batch):
    time.sleep(0.5)
    return _extract_embedding(model, batch)
