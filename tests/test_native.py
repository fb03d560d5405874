"""The compiled host kernels' loader (nnctl/runtime/native.py): argument checks, bound steps that
keep their buffers alive, the build digest that refuses stale builds, and the numpy fallback."""

from __future__ import annotations

import gc
import shutil

import numpy as np
import pytest

from nnctl.runtime import jit, native, native_build

LIB = native.library()
needs_lib = pytest.mark.skipif(LIB is None, reason="the compiled kernels are not built here (or NNCTL_JIT=0)")


@pytest.fixture
def fresh_loader(monkeypatch):
    """library() and compiled() start from nothing loaded (restored afterwards)."""
    monkeypatch.setattr(native, "_lib", None)
    monkeypatch.setattr(native, "_compiled", {})


@needs_lib
def test_the_built_library_comes_from_the_sources_beside_it():
    LIB.nnctl_kernels_digest.restype = __import__("ctypes").c_char_p
    assert LIB.nnctl_kernels_digest().decode() == native_build.digest()


@needs_lib
def test_kernel_arguments_are_checked_before_any_pointer_is_passed():
    k = native.Kernel(LIB, "gradient_descent", "aaai")
    var, lr, g = np.ones(8, np.float32), np.full(1, 0.5, np.float32), np.arange(8, dtype=np.float32)
    with pytest.raises(TypeError, match="gradient_descent takes 4 arguments"):
        k(var, lr, g)
    with pytest.raises(TypeError, match="gradient_descent: wants aligned C-contiguous float32"):
        k(var, lr, np.arange(16, dtype=np.float32)[::2], 8)        # strided
    with pytest.raises(TypeError, match="wants aligned C-contiguous float32"):
        k(var, lr, g.astype(np.float64), 8)                         # another dtype than the first array's
    with pytest.raises(TypeError, match="wants aligned C-contiguous"):
        k(var, lr, list(g), 8)                                      # not an array
    unaligned = np.frombuffer(np.zeros(33, np.uint8).data, np.float32, 8, offset=1)
    with pytest.raises(TypeError, match="wants aligned"):
        k(var, lr, unaligned, 8)
    k(var, lr, g, 8)
    np.testing.assert_array_equal(var, np.float32(1) - np.arange(8, dtype=np.float32) * np.float32(0.5))


@needs_lib
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_bound_step_keeps_the_buffers_it_points_into_alive(dtype):
    k = native.Kernel(LIB, "gradient_descent", "aaai")
    var = np.zeros(1 << 16, dtype)
    step = k.bind(var, np.full(1, 2, dtype), np.ones(1 << 16, dtype), 1 << 16)
    del var
    gc.collect()
    for _ in range(3):
        step()
    np.testing.assert_array_equal(step.arrays[0], np.full(1 << 16, -6, dtype))


def test_a_stale_build_is_refused_with_a_warning_naming_the_fix(fresh_loader, monkeypatch):
    if native.library_path() is None:
        pytest.skip("the compiled kernels are not built here")
    monkeypatch.setattr(native_build, "digest", lambda csrc=native_build.CSRC: "0" * 16)
    with pytest.warns(UserWarning, match=r"built from other sources .*make kernels"):
        assert native.library() is None
    assert jit.load() is None and native.compiled("x", lambda lib: 1) is None


def test_without_the_library_every_loader_says_none(fresh_loader, monkeypatch):
    monkeypatch.setattr(native, "library_path", lambda: None)
    assert native.library() is None
    assert native.compiled("x", lambda lib: 1) is None


def test_nnctl_jit_0_turns_the_kernels_off(fresh_loader, monkeypatch):
    monkeypatch.setenv("NNCTL_JIT", "0")
    assert native.library() is None and native.compiled("x", lambda lib: 1) is None


def test_the_digest_follows_every_source_byte(tmp_path):
    csrc = tmp_path / "csrc"
    shutil.copytree(native_build.CSRC, csrc)
    before = native_build.digest(csrc)
    assert before == native_build.digest()
    src = csrc / native_build.SOURCES[0]
    src.write_bytes(src.read_bytes() + b"\n")
    assert native_build.digest(csrc) != before


@needs_lib
def test_unaligned_buffers_take_the_numpy_path_instead_of_failing():
    """A float array at an odd address (np.frombuffer of a checkpoint's bytes can give one) is
    refused by every guard, so the op runs its xp code rather than raising."""
    from types import SimpleNamespace

    from nnctl.ops import conv_jit, seq_jit
    raw = np.zeros(4 * (1 << 15) + 1, np.uint8)
    odd = np.frombuffer(raw.data, np.float32, 1 << 15, offset=1)
    even = np.zeros(1 << 15, np.float32)
    ctx = SimpleNamespace(backend=SimpleNamespace(host_memory=True))
    assert jit.for_arrays(ctx, even, even) is not None
    assert jit.for_arrays(ctx, even, odd) is None
    assert not seq_jit.host_ok(seq_jit.load(), even, odd)
    assert not conv_jit.usable(conv_jit.load(), odd)
    assert native.host_arrays(np.dtype(np.float32), (even,)) and not native.host_arrays(np.dtype(np.float32), (odd,))
