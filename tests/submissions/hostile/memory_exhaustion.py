"""Memory exhaustion: a loop at import that allocates until it fails, and a conv_out that asks
for 40 GB at once. Both end in an error for this submission, not a dead machine."""
try:
    hoard = [bytearray(256 * 1024 * 1024) for _ in range(1_000_000)]
except MemoryError:
    hoard = None


def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    return torch.zeros(100_000, 100_000).shape[0]
