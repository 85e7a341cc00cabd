"""Prints without end inside conv_out: the output cap stops it."""


def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    line = "x" * 1_000_000
    while True:
        print(line)
