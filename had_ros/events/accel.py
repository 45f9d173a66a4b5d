"""Choice between the compiled (numba) kernels and the numpy reference of the event pipeline.

The EVT3 decoder and the representations run compiled kernels (had_ros.events._kernels) when
numba imports, and their vectorised numpy versions otherwise. Both give the same results (the
tests compare them); the numpy code is the reference and the fallback.

``HAD_ROS_NO_NUMBA=1`` (any value but empty or ``0``) forces the numpy path. It is read at every
call, so it can be set at any time, also from within a running process. numba itself is imported
lazily, on the first call that wants a kernel, so importing had_ros.events stays cheap.
"""
from __future__ import annotations

import contextlib
import os
from types import ModuleType
from typing import Iterator

from had_ros.errors import HadError

ENV_NO_NUMBA = "HAD_ROS_NO_NUMBA"

_kernels: ModuleType | None = None
_import_failed = False


def numba_disabled() -> bool:
    """True when the environment forces the numpy path (HAD_ROS_NO_NUMBA set, not '0')."""
    return os.environ.get(ENV_NO_NUMBA, "").strip() not in ("", "0")


def kernels() -> ModuleType | None:
    """The compiled kernels module, or None when numba is missing or disabled by the environment."""
    global _kernels, _import_failed
    if numba_disabled() or _import_failed:
        return None
    if _kernels is None:
        try:
            from had_ros.events import _kernels as module
        except ImportError:  # numba (or llvmlite) not installed: the numpy path serves
            _import_failed = True
            return None
        _kernels = module
    return _kernels


def require_kernels() -> ModuleType:
    """The compiled kernels module whatever the environment says; HadError when numba is missing."""
    try:
        from had_ros.events import _kernels as module
    except ImportError as exc:
        raise HadError(f"the numba backend of had_ros.events needs numba and llvmlite ({exc})") from None
    return module


def backend() -> str:
    """'numba' or 'numpy': the path the next call of a decoder or representation will take."""
    return "numba" if kernels() is not None else "numpy"


@contextlib.contextmanager
def numpy_only(on: bool = True) -> Iterator[None]:
    """Within the block, force the numpy path (``on``) or lift the force (HAD_ROS_NO_NUMBA unset).

    For benchmarks and tests that run both paths in one process. It sets the process
    environment, so other threads see it too while the block runs."""
    old = os.environ.get(ENV_NO_NUMBA)
    if on:
        os.environ[ENV_NO_NUMBA] = "1"
    else:
        os.environ.pop(ENV_NO_NUMBA, None)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(ENV_NO_NUMBA, None)
        else:
            os.environ[ENV_NO_NUMBA] = old
