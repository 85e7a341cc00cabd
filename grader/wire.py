"""The message format between the grader and a worker: JSON plus safetensors, never pickle.

A message is two length-prefixed parts: a UTF-8 JSON document, and a safetensors blob
holding the tensors the document refers to as `{"__tensor__": "t0"}`. Both parsers are
data-only (the standard library's `json`, and safetensors' Rust header parser), so a
hostile worker can at worst send a malformed message, which `decode` turns into
`ProtocolError`. Nothing the worker sends is ever executed or unpickled.
"""

from __future__ import annotations

import json
import select
import socket
import struct
import time
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as _st_load
from safetensors.torch import save as _st_save

_HEADER = struct.Struct(">QQ")
_TENSOR_KEY = "__tensor__"
# Everything a probe legitimately returns is small (an embedding batch is ~100 KB).
MAX_JSON_BYTES = 16 * 1024 * 1024
MAX_BLOB_BYTES = 512 * 1024 * 1024
_ALLOWED_DTYPES = {
    torch.float16, torch.bfloat16, torch.float32, torch.float64,
    torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool,
}  # fmt: skip


class ProtocolError(Exception):
    """A message that is not well formed, too large, or cut short."""


class PeerClosed(ProtocolError):
    """The other side closed the connection (it exited or was killed)."""


class Timeout(ProtocolError):
    """No complete message arrived before the deadline."""


def split(value: Any, *, copy: bool = True) -> tuple[Any, dict[str, torch.Tensor]]:
    """Separate `value` into JSON-able data and the tensors it refers to by name.

    The tensors are copies unless `copy=False` (for a caller that only reads them at once).
    """
    tensors: dict[str, torch.Tensor] = {}
    return _plain(value, tensors, copy), tensors


def join(plain: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The inverse of `split`; ProtocolError if a referenced tensor is missing."""
    try:
        return _restore(plain, tensors)
    except RecursionError:
        raise ProtocolError("malformed message: nested too deeply") from None


def roundtrip(value: Any) -> Any:
    """`value` as the other side would receive it (tuples become lists, tensors copied)."""
    plain, tensors = split(value)
    return join(json.loads(json.dumps(plain)), {k: t.clone() for k, t in tensors.items()})


def _plain(value: Any, tensors: dict[str, torch.Tensor], copy: bool = True) -> Any:
    """Convert `value` to JSON-able data, moving tensors into `tensors`."""
    if value is None or type(value) in (bool, str):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, np.generic):
        return _plain(value.item(), tensors, copy)
    if isinstance(value, torch.Tensor):
        tensor = value.detach().to("cpu")
        if tensor.layout != torch.strided or tensor.dtype not in _ALLOWED_DTYPES:
            raise TypeError(f"cannot send a tensor of dtype {tensor.dtype} / {tensor.layout}")
        name = f"t{len(tensors)}"
        tensors[name] = tensor.contiguous().clone() if copy else value  # the caller's own object
        return {_TENSOR_KEY: name}
    if isinstance(value, (list, tuple)):
        return [_plain(item, tensors, copy) for item in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str) or key == _TENSOR_KEY:
                raise TypeError(f"cannot send a dict key {key!r}")
            out[str(key)] = _plain(item, tensors, copy)
        return out
    raise TypeError(f"cannot send a value of type {type(value).__name__}")


def encode(value: Any) -> bytes:
    """Serialise plain data and tensors into one message."""
    plain, tensors = split(value)
    document = json.dumps(plain, allow_nan=True).encode("utf-8")
    blob = _st_save(tensors) if tensors else b""
    return _HEADER.pack(len(document), len(blob)) + document + blob


def _restore(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, list):
        return [_restore(item, tensors) for item in value]
    if isinstance(value, dict):
        if set(value) == {_TENSOR_KEY}:
            name = value[_TENSOR_KEY]
            if not isinstance(name, str) or name not in tensors:
                raise ProtocolError(f"message refers to a missing tensor {name!r}")
            return tensors[name]
        return {key: _restore(item, tensors) for key, item in value.items()}
    return value


def decode(document: bytes, blob: bytes) -> Any:
    """Parse the two parts of a message; raise ProtocolError on anything malformed."""
    try:
        value = json.loads(document.decode("utf-8"))
        tensors = _st_load(blob) if blob else {}
    except Exception as error:  # any parser failure means a malformed message
        raise ProtocolError(f"malformed message: {type(error).__name__}: {error}") from None
    return join(value, tensors)


def send(sock: socket.socket, value: Any) -> None:
    """Send one message (blocking)."""
    sock.sendall(encode(value))


def _recv_exactly(sock: socket.socket, size: int, deadline: float | None) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout("no reply before the deadline")
            ready, _, _ = select.select([sock], [], [], remaining)
            if not ready:
                raise Timeout("no reply before the deadline")
        try:
            chunk = sock.recv(min(size - len(chunks), 1 << 20))
        except (ConnectionResetError, BrokenPipeError) as error:
            raise PeerClosed(str(error)) from None
        if not chunk:
            raise PeerClosed("connection closed")
        chunks += chunk
    return bytes(chunks)


def receive(sock: socket.socket, timeout: float | None = None) -> Any:
    """Receive one message, waiting at most `timeout` seconds for all of it."""
    deadline = None if timeout is None else time.monotonic() + timeout
    json_size, blob_size = _HEADER.unpack(_recv_exactly(sock, _HEADER.size, deadline))
    if json_size > MAX_JSON_BYTES or blob_size > MAX_BLOB_BYTES:
        raise ProtocolError(f"message too large ({json_size} + {blob_size} bytes)")
    document = _recv_exactly(sock, json_size, deadline)
    blob = _recv_exactly(sock, blob_size, deadline)
    return decode(document, blob)
