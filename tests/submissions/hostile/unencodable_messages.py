"""Exceptions, output and a failing statement whose text cannot be encoded as UTF-8."""
print("lone surrogates in output: \udcff \ud800", flush=True)
try:
    raise RuntimeError("at import: \ud800\udfff\x00\x1b[2J")
except RuntimeError:
    pass
bad_name = "\udcff"  # a top-level statement that fails with an unencodable message
raise ValueError(f"cannot encode {bad_name}")


def conv_out(in_sz, k, stride=1, pad=0, dilation=1):
    raise ValueError("\ud800 not UTF-8 \udcff")
