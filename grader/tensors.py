"""Torch-aware helpers for probes: deciding cheaply that a tensor is unchanged.

Pretrained weights are mapped from the checkpoint file copy-on-write (as an assignment's
resources module may arrange), so every model built from them reads the same file pages until something
writes to it; the kernel then gives the writer a private copy of the page. Two tensors
that view the same bytes of the same file, with no page of either privately copied,
are equal without reading 244 MB: /proc/self/maps says which file and offset a tensor
views, /proc/self/pagemap whether any of its pages was written.

Linux only; where the answer is not certain, `same_file_bytes` returns None and the
caller compares the values.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass

import numpy as np
import torch

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_PRESENT, _SWAPPED, _FILE_OR_SHARED = 1 << 63, 1 << 62, 1 << 61


@dataclass(frozen=True)
class _Mapping:
    start: int
    end: int
    offset: int
    path: str


class Mappings:
    """A snapshot of this process's file mappings (read /proc/self/maps once per use)."""

    def __init__(self) -> None:
        self._maps: list[_Mapping] = []
        try:
            with open("/proc/self/maps") as handle:
                for line in handle:
                    parts = line.split(maxsplit=5)
                    if len(parts) == 6 and parts[5].startswith("/"):
                        start, end = (int(x, 16) for x in parts[0].split("-"))
                        self._maps.append(_Mapping(start, end, int(parts[2], 16), parts[5].strip()))
        except OSError:
            pass
        self._maps.sort(key=lambda m: m.start)
        self._starts = [m.start for m in self._maps]

    def file_view(self, tensor: torch.Tensor) -> tuple[str, int, int] | None:
        """(file, offset, length) of the bytes a contiguous tensor views, if it views a file."""
        if not tensor.is_contiguous() or tensor.device.type != "cpu":
            return None
        address, length = tensor.data_ptr(), tensor.numel() * tensor.element_size()
        index = bisect.bisect_right(self._starts, address) - 1
        if index < 0 or length == 0:
            return None
        mapping = self._maps[index]
        if address + length > mapping.end:
            return None
        return mapping.path, mapping.offset + address - mapping.start, length


def _pages_untouched(address: int, length: int) -> bool:
    """True when no page of [address, address+length) was privately copied (written)."""
    first, last = address // _PAGE, (address + length - 1) // _PAGE
    try:
        with open("/proc/self/pagemap", "rb") as handle:
            handle.seek(first * 8)
            data = handle.read((last - first + 1) * 8)
    except OSError:
        return False
    if len(data) != (last - first + 1) * 8:
        return False
    entries = np.frombuffer(data, dtype="<u8")
    swapped = (entries & np.uint64(_SWAPPED)) != 0
    copied = ((entries & np.uint64(_PRESENT)) != 0) & ((entries & np.uint64(_FILE_OR_SHARED)) == 0)
    return not bool((swapped | copied).any())


def same_file_bytes(a: torch.Tensor, b: torch.Tensor, mappings: Mappings) -> bool | None:
    """True if `a` and `b` certainly hold equal values because they view the same unwritten
    bytes of one file; None when that cannot be decided this way (compare the values)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return None
    view_a, view_b = mappings.file_view(a), mappings.file_view(b)
    if view_a is None or view_a != view_b:
        return None
    if _pages_untouched(a.data_ptr(), view_a[2]) and _pages_untouched(b.data_ptr(), view_b[2]):
        return True
    return None
