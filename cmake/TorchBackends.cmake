# Which LibTorch metaguard is built against, and which collective backends it compiles in.
# Included after find_package(Torch). Sets, for the targets that need them:
#   METAGUARD_TORCH_DESCRIPTION  e.g. "LibTorch 2.15.0 (CUDA 13.2)" (for --version)
#   METAGUARD_BACKENDS           e.g. "gloo" or "gloo, nccl"
#   metaguard_torch_backends     INTERFACE target: the definitions (USE_C10D_NCCL, ...), the
#                                nccl.h include directory and libnccl, for the torch library
#   METAGUARD_TORCH_PUBLIC_DEFINITIONS  definitions every target that includes torch needs
#   METAGUARD_TORCH_LINK_OPTIONS        link options every executable that links torch needs
#
# METAGUARD_CUDA=ON needs a CUDA build of LibTorch (a PyTorch wheel from PyPI is one) and the
# nccl.h that matches the NCCL that build loads. There is no silent fall back to Gloo: any
# piece missing is a configure error that says which and where it was looked for.

get_filename_component(_metaguard_torch_library_dir "${TORCH_LIBRARY}" DIRECTORY)
get_filename_component(_metaguard_torch_prefix_lib "${TORCH_INSTALL_PREFIX}/lib" ABSOLUTE)
if(NOT _metaguard_torch_library_dir STREQUAL _metaguard_torch_prefix_lib AND NOT TORCH_INSTALL_PREFIX MATCHES "^/usr/?$")
  message(FATAL_ERROR "LibTorch's config at '${Torch_DIR}' found its library at '${TORCH_LIBRARY}', "
                      "outside '${_metaguard_torch_prefix_lib}': two LibTorches would be mixed. "
                      "Pass -DTorch_ROOT=<the torch folder> or a clean build directory.")
endif()

# A PyTorch wheel keeps LibTorch in site-packages/torch; its NCCL is the nvidia-nccl-cu*
# package beside it. Torch_DIR is site-packages/torch/share/cmake/Torch.
get_filename_component(_metaguard_site_packages "${Torch_DIR}/../../../.." ABSOLUTE)
set(_metaguard_wheel_metadata "")
file(GLOB _metaguard_wheel_metadata "${_metaguard_site_packages}/torch-*.dist-info/METADATA")
if(_metaguard_wheel_metadata)
  list(GET _metaguard_wheel_metadata 0 _metaguard_wheel_metadata)  # a stale dist-info beside: the first
endif()

# A wheel's torch/version.py names the full version (2.15.0+cu132) and the CUDA it was built
# with; Debian's LibTorch has only TorchConfigVersion's 1.13.0.
set(METAGUARD_TORCH_VERSION "${Torch_VERSION}")
set(_metaguard_torch_cuda "")
if(EXISTS "${TORCH_INSTALL_PREFIX}/version.py")
  file(STRINGS "${TORCH_INSTALL_PREFIX}/version.py" _metaguard_version_lines REGEX "^(__version__|cuda)")
  foreach(line IN LISTS _metaguard_version_lines)
    if(line MATCHES "^__version__ = '([^']+)'")
      set(METAGUARD_TORCH_VERSION "${CMAKE_MATCH_1}")
    elseif(line MATCHES "^cuda.*= '([^']+)'")
      set(_metaguard_torch_cuda "${CMAKE_MATCH_1}")
    endif()
  endforeach()
endif()
if(NOT METAGUARD_TORCH_VERSION)
  set(METAGUARD_TORCH_VERSION "unknown")
endif()

add_library(metaguard_torch_backends INTERFACE)
set(METAGUARD_BACKENDS "gloo")

if(METAGUARD_CUDA)
  if(NOT CAFFE2_USE_CUDA OR NOT TARGET torch_cuda)
    message(FATAL_ERROR "METAGUARD_CUDA=ON needs a CUDA build of LibTorch, but the one found at "
                        "'${Torch_DIR}' (version ${METAGUARD_TORCH_VERSION}) has no CUDA. Configure with "
                        "-DCMAKE_PREFIX_PATH=$(python -c 'import torch; print(torch.utils.cmake_prefix_path)') "
                        "from a CUDA build of PyTorch, or with -DMETAGUARD_CUDA=OFF.")
  endif()

  # nccl.h: an explicit METAGUARD_NCCL_INCLUDE_DIR, else the wheel's own NCCL package, else
  # the CUDA toolkit's. The version must equal the one the wheel pins (its METADATA).
  find_path(METAGUARD_NCCL_INCLUDE_DIR nccl.h
    HINTS "${_metaguard_site_packages}/nvidia/nccl/include" ${CUDAToolkit_INCLUDE_DIRS}
    NO_DEFAULT_PATH)
  if(NOT METAGUARD_NCCL_INCLUDE_DIR)
    message(FATAL_ERROR "METAGUARD_CUDA=ON: nccl.h not found (looked in "
                        "'${_metaguard_site_packages}/nvidia/nccl/include' and the CUDA toolkit's "
                        "'${CUDAToolkit_INCLUDE_DIRS}'). Install the nvidia-nccl package your torch wheel "
                        "requires, or pass -DMETAGUARD_NCCL_INCLUDE_DIR=DIR.")
  endif()
  file(STRINGS "${METAGUARD_NCCL_INCLUDE_DIR}/nccl.h" _metaguard_nccl_lines REGEX "^#define NCCL_(MAJOR|MINOR|PATCH) ")
  set(_metaguard_nccl_header_version "")
  foreach(part MAJOR MINOR PATCH)
    string(REGEX MATCH "NCCL_${part} ([0-9]+)" _match "${_metaguard_nccl_lines}")
    list(APPEND _metaguard_nccl_header_version "${CMAKE_MATCH_1}")
  endforeach()
  list(JOIN _metaguard_nccl_header_version "." _metaguard_nccl_header_version)
  if(_metaguard_wheel_metadata)
    file(STRINGS "${_metaguard_wheel_metadata}" _metaguard_nccl_pin REGEX "^Requires-Dist: nvidia-nccl-cu[0-9]+==")
    string(REGEX MATCH "==([0-9]+\\.[0-9]+\\.[0-9]+)" _match "${_metaguard_nccl_pin}")
    set(_metaguard_nccl_wheel_version "${CMAKE_MATCH_1}")
    if(_metaguard_nccl_wheel_version AND NOT _metaguard_nccl_wheel_version STREQUAL _metaguard_nccl_header_version)
      message(FATAL_ERROR "METAGUARD_CUDA=ON: '${METAGUARD_NCCL_INCLUDE_DIR}/nccl.h' is NCCL "
                          "${_metaguard_nccl_header_version}, but this torch wheel loads NCCL "
                          "${_metaguard_nccl_wheel_version} (${_metaguard_wheel_metadata}); ProcessGroupNCCL "
                          "embeds NCCL's structures, so the two must match. Point "
                          "-DMETAGUARD_NCCL_INCLUDE_DIR at the ${_metaguard_nccl_wheel_version} headers.")
    endif()
  endif()
  find_library(METAGUARD_NCCL_LIBRARY NAMES libnccl.so.2 nccl NAMES_PER_DIR
    HINTS "${METAGUARD_NCCL_INCLUDE_DIR}/../lib" "${_metaguard_site_packages}/nvidia/nccl/lib" ${CUDAToolkit_LIBRARY_DIR}
    NO_DEFAULT_PATH)
  if(NOT METAGUARD_NCCL_LIBRARY)
    message(FATAL_ERROR "METAGUARD_CUDA=ON: libnccl not found beside '${METAGUARD_NCCL_INCLUDE_DIR}' "
                        "nor in the CUDA toolkit; pass -DMETAGUARD_NCCL_LIBRARY=FILE.")
  endif()
  message(STATUS "metaguard: NCCL ${_metaguard_nccl_header_version} from ${METAGUARD_NCCL_INCLUDE_DIR}")

  target_compile_definitions(metaguard_torch_backends INTERFACE USE_C10D_NCCL=1 METAGUARD_CUDA=1)
  target_include_directories(metaguard_torch_backends SYSTEM INTERFACE "${METAGUARD_NCCL_INCLUDE_DIR}")
  target_link_libraries(metaguard_torch_backends INTERFACE "${METAGUARD_NCCL_LIBRARY}")
  set(METAGUARD_BACKENDS "gloo, nccl")
endif()

# A wheel loads its own CUDA libraries (site-packages/nvidia/*/lib: CUDA runtime, NCCL, cuDNN),
# which may be newer than the CUDA toolkit's that TorchConfig links. The loader takes an
# executable's direct dependencies first, from its run path: the wheel's folders go first
# there, so libcudart and libnccl are the ones libtorch_cuda was built for.
set(METAGUARD_TORCH_LINK_OPTIONS "")
# Installed executables find a wheel's LibTorch where it is (CMake leaves folders inside the
# source tree, such as .venv/, out of the install run path).
if(NOT TORCH_INSTALL_PREFIX MATCHES "^/usr/?$")
  list(APPEND CMAKE_INSTALL_RPATH "${TORCH_INSTALL_PREFIX}/lib")
endif()
file(GLOB _metaguard_wheel_lib_dirs LIST_DIRECTORIES true "${_metaguard_site_packages}/nvidia/*/lib")
if(_metaguard_wheel_lib_dirs AND CAFFE2_USE_CUDA)
  list(JOIN _metaguard_wheel_lib_dirs ":" _metaguard_wheel_rpath)
  set(METAGUARD_TORCH_LINK_OPTIONS "LINKER:-rpath,${_metaguard_wheel_rpath}")
endif()
# Some wheels' libtorch.so export a copy of parts of the C++ runtime (2.11's exports all of
# std::filesystem, from the manylinux toolchain's libstdc++_nonshared.a). A symbol is looked up
# in the order an executable names its libraries, and the compiler names libstdc++ last: our
# std::filesystem::remove_all then ran torch's copy, which crashed on Debian 12 (a call through
# a null pointer at the end of every two-rank run). Naming libstdc++ first makes the C++
# runtime's own definitions win; only what it lacks still comes from torch. Done for every
# LibTorch alike (tests/structure/runtime_first.py checks the order).
list(APPEND METAGUARD_TORCH_LINK_OPTIONS "LINKER:--push-state,--no-as-needed,-lstdc++,--pop-state")

# LibTorch 2.x bundles fmt headers newer than Debian's libfmt in torch/include, which comes
# first on the include path of torch code: use them header-only there, so no fmt symbol is
# looked up in Debian's libfmt (the torch-free library keeps Debian's).
# METAGUARD_TORCH_PUBLIC_DEFINITIONS carries that to every target that includes torch.
set(METAGUARD_TORCH_PUBLIC_DEFINITIONS "")
if(EXISTS "${TORCH_INSTALL_PREFIX}/include/fmt/format.h" AND NOT TORCH_INSTALL_PREFIX MATCHES "^/usr/?$")
  set(METAGUARD_TORCH_PUBLIC_DEFINITIONS FMT_HEADER_ONLY=1)
endif()

set(METAGUARD_TORCH_DESCRIPTION "LibTorch ${METAGUARD_TORCH_VERSION}")
if(METAGUARD_CUDA)
  string(APPEND METAGUARD_TORCH_DESCRIPTION " (CUDA ${_metaguard_torch_cuda}, metaguard CUDA code on, toolkit ${CUDAToolkit_VERSION})")
elseif(CAFFE2_USE_CUDA)
  string(APPEND METAGUARD_TORCH_DESCRIPTION " (a CUDA ${_metaguard_torch_cuda} build; metaguard's CUDA code off)")
else()
  string(APPEND METAGUARD_TORCH_DESCRIPTION " (CPU)")
endif()
message(STATUS "metaguard: ${METAGUARD_TORCH_DESCRIPTION}; backends: ${METAGUARD_BACKENDS}")
