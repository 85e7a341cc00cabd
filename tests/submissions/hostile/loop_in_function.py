"""conv_out never returns; the other questions must be unaffected."""


def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    while True:
        pass
