# metaguard_precompile_torch(<target>): <torch/torch.h> precompiled for a target that uses LibTorch.
#
# A precompiled LibTorch header is about 700 MB, and one per target (eleven of them) filled CI's
# disk. So there are two per build: the library's own, and one that every executable reuses,
# made by `metaguard_torch_pch`, an object file with nothing but the library's usage
# requirements. GCC takes a precompiled header only where the flags that made it still hold:
# the same -fPIE as an executable (CMAKE_POSITION_INDEPENDENT_CODE is on) and no macro the user
# lacks, hence a host of its own rather than an executable with extra definitions.
# -Winvalid-pch is an error under -Werror, so a drift in flags fails the build, never slows it.
function(metaguard_precompile_torch target)
  get_target_property(type ${target} TYPE)
  if(NOT type STREQUAL "EXECUTABLE")
    target_precompile_headers(${target} PRIVATE <torch/torch.h>)
    return()
  endif()
  if(NOT TARGET metaguard_torch_pch)
    add_library(metaguard_torch_pch OBJECT ${PROJECT_SOURCE_DIR}/cmake/torch_pch_host.cpp)
    set_target_properties(metaguard_torch_pch PROPERTIES POSITION_INDEPENDENT_CODE OFF)
    target_compile_options(metaguard_torch_pch PRIVATE -fPIE)
    # The warnings too: -Wpedantic changes what GCC predefines (__cpp_runtime_arrays).
    target_link_libraries(metaguard_torch_pch PRIVATE metaguard::metaguard metaguard_warnings)
    target_precompile_headers(metaguard_torch_pch PRIVATE <torch/torch.h>)
  endif()
  target_precompile_headers(${target} REUSE_FROM metaguard_torch_pch)
endfunction()
