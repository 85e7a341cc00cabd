"""SIGTERM and SIGINT ignored, then conv_out hangs: the grader's kill must still work."""
import signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)


def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    while True:
        pass
