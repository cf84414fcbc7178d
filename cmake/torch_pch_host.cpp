// Nothing: the object this compiles to only carries the precompiled <torch/torch.h> that every
// LibTorch executable reuses (cmake/TorchPrecompiledHeader.cmake).
