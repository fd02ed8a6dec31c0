"""Argument checks shared by the public entry points: bad input changes nothing."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from .errors import InvalidArgument, InvalidType

# Counts above this are absurd for any simulated machine (2^40 pages = 4 PiB).
MAX_COUNT = 1 << 40
SHORT_ARRAY = 64  # as_pfns checks arrays up to this size in Python


def as_count(value: Any, name: str, *, maximum: int = MAX_COUNT, minimum: int = 0) -> int:
    """An integer count in ``[minimum, maximum]``; bools, floats and strings are refused."""
    if type(value) is int and minimum <= value <= maximum:  # NOTE: the common case first
        return value
    if isinstance(value, bool):
        raise InvalidType(f"{name} must be an integer, not bool")
    try:
        number = operator.index(value)
    except TypeError:
        raise InvalidType(f"{name} must be an integer, not {type(value).__name__}") from None
    if number < minimum:
        raise InvalidArgument(f"{name} must be at least {minimum}, got {number}")
    if number > maximum:
        raise InvalidArgument(f"{name} must be at most {maximum}, got {number}")
    return number


def as_pfns(values: Any, name: str = "pfns", *, limit: int = 1 << 32) -> np.ndarray:
    """A 1-D C-contiguous uint64 array of non-negative integers below ``limit``.

    Always a new array, so callers may hand it to the core without aliasing the user's.
    """
    if isinstance(values, (str, bytes)):
        raise InvalidType(
            f"{name} must be a 1-D array-like of integers, not {type(values).__name__}")
    try:
        array = np.asarray(values)
    except (OverflowError, ValueError) as exc:
        raise InvalidArgument(
            f"{name} must be a 1-D array-like of non-negative integers: {exc}") from None
    if array.ndim != 1:
        raise InvalidArgument(f"{name} must be 1-D, got shape {array.shape}")
    if array.size == 0:
        return np.zeros(0, dtype=np.uint64)
    if array.dtype.kind not in "iu":
        raise InvalidType(f"{name} must hold integers, got dtype {array.dtype}")
    # NOTE: a short array is checked as a list, for performance reasons: a numpy
    # reduction costs microseconds, more than the core's work for a few pages.
    if array.size <= SHORT_ARRAY:
        items = array.tolist()
        low, high = min(items), max(items)
    else:
        low = int(array.min()) if array.dtype.kind == "i" else 0
        high = int(array.max())
    if low < 0:
        raise InvalidArgument(f"{name} must be non-negative, got {low}")
    if high >= limit:
        raise InvalidArgument(f"{name} must be below {limit}, got {high}")
    return np.array(array, dtype=np.uint64, order="C", copy=True)


def refusal(array: np.ndarray, index: int, wanted: str) -> str:
    """Why a core refused ``array[index]`` of a batch it left unchanged."""
    pfn = int(array[index])
    if pfn in array[:index]:
        return f"pfn {pfn} appears twice (at index {index}); nothing was freed"
    return f"pfn {pfn} (index {index}) is not {wanted}; nothing was freed"
