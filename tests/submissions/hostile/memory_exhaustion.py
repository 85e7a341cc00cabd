"""Memory exhaustion at import and inside conv_out: both end in MemoryError, not a dead machine."""
try:
    hoard = [bytearray(256 * 1024 * 1024) for _ in range(1_000_000)]
except MemoryError:
    hoard = None


def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    chunks = []
    while True:
        chunks.append(bytearray(512 * 1024 * 1024))
