"""Exception types specific to wgtorch. Shape, dtype and device mistakes raise Python's own
RuntimeError / ValueError / TypeError / IndexError, as PyTorch does."""


class OutOfMemoryError(RuntimeError):
    """A device allocation failed (like ``torch.cuda.OutOfMemoryError``). Free tensors or call
    ``wgtorch.wgpu.empty_cache()``; the device stays usable."""


class DeviceLostError(RuntimeError):
    """The GPU device was lost (driver reset, unplugged adapter). Tensors on it are gone."""


class KernelCompileError(RuntimeError):
    """A WGSL kernel failed to compile or build on this adapter; the message names the kernel."""
