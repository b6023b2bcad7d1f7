"""Peak memory of a block of code, on CUDA and on CPU.

* CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus what was
  allocated before: the peak of tensor memory the block added (PyTorch's caching allocator,
  not the driver's reservation).
* CPU: tracemalloc cannot see PyTorch's C++ allocations, and PyTorch has no CPU allocator
  statistics, so we read the process's resident set (Linux ``/proc/self/status``): first
  ``gc.collect()`` and glibc's ``malloc_trim(0)`` return freed memory to the OS (otherwise a
  block could reuse pages an earlier block freed and look free of cost), then writing "5"
  to ``/proc/self/clear_refs`` resets the high-water mark VmHWM to the current VmRSS; the
  block's peak is VmHWM afterwards minus VmRSS before. This counts every page the block
  touched (tensors, allocator overhead, lazily loaded kernels), so it is a little above
  the tensor bytes. Where clear_refs is not writable (not Linux) the fallback is the growth
  of ``ru_maxrss`` (a lower bound: it is 0 unless the block exceeds the process's earlier
  peak); ``method`` in the result says which one was used.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import resource
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


@dataclass
class PeakMemory:
    bytes: int = 0
    method: str = ""


def _status_bytes(field: str) -> int | None:
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # reported in kB
    except OSError:
        return None
    return None


def _trim_heap() -> None:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _reset_high_water_mark() -> bool:
    try:
        CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def _max_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, kB on Linux


@contextmanager
def peak_memory(device: str) -> Iterator[PeakMemory]:
    """``with peak_memory(device) as peak: ...`` then ``peak.bytes`` (see module docstring)."""
    import torch

    result = PeakMemory()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        yield result
        torch.cuda.synchronize()
        result.bytes = max(0, torch.cuda.max_memory_allocated() - before)
        result.method = "torch.cuda.max_memory_allocated"
        return
    _trim_heap()
    before = _status_bytes("VmRSS")
    if before is not None and _reset_high_water_mark():
        yield result
        after = _status_bytes("VmHWM") or before
        result.bytes = max(0, after - before)
        result.method = "rss-high-water (/proc/self/clear_refs)"
        return
    before = _max_rss_bytes()
    yield result
    result.bytes = max(0, _max_rss_bytes() - before)
    result.method = "ru_maxrss growth (lower bound)"
