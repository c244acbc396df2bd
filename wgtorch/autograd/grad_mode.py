"""Grad mode: ``no_grad``, ``enable_grad``, ``set_grad_enabled``, ``inference_mode``."""

from __future__ import annotations

import functools
import threading


class _State(threading.local):
    enabled = True


state = _State()


def is_grad_enabled() -> bool:
    return state.enabled


class _Mode:
    """Context manager and decorator that sets grad mode, restoring the previous one on exit."""

    _value = True

    def __enter__(self):
        self._prev = state.enabled
        state.enabled = self._value
        return self

    def __exit__(self, *exc):
        state.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_Mode):
    _value = False


class enable_grad(_Mode):
    _value = True


class inference_mode(_Mode):
    """Like ``no_grad`` (wgtorch keeps no version counters to elide, so the two are the same)."""

    def __init__(self, mode: bool = True):
        self._value = not mode

    def __call__(self, fn):
        mode = not self._value

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return fn(*args, **kwargs)

        return wrapper


class set_grad_enabled(_Mode):
    def __init__(self, mode: bool):
        self._value = bool(mode)
        self._prev = state.enabled
        state.enabled = self._value  # also works as a plain function call, like torch's

    def __enter__(self):
        return self  # __init__ already switched the mode and saved the one to restore
