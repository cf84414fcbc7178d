# What the torch-free library (metaguard_base) needs, all Debian 12 packages: found once here
# for the main build and the standalone sanitizer and fuzzing builds (tests/sanitize,
# tests/fuzz), which compile the same sources.
find_package(fmt REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
# model_config.yaml, the config LitGPT writes beside every checkpoint (Debian: libyaml-cpp-dev).
find_package(yaml-cpp REQUIRED)
# libzip's own CMake config on Debian 12 names tools from other packages; pkg-config does not.
# A machine without pkg-config (the GPU machine of scripts/device-check.sh) finds zip.h and
# the library directly, under the same target name.
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)
else()
  find_path(METAGUARD_LIBZIP_INCLUDE_DIR zip.h)
  find_library(METAGUARD_LIBZIP_LIBRARY zip)
  if(NOT METAGUARD_LIBZIP_INCLUDE_DIR OR NOT METAGUARD_LIBZIP_LIBRARY)
    message(FATAL_ERROR "libzip not found (no pkg-config here, and no zip.h or libzip in the "
                        "prefixes searched): install libzip-dev, or add its prefix to CMAKE_PREFIX_PATH.")
  endif()
  add_library(PkgConfig::LIBZIP INTERFACE IMPORTED)
  target_include_directories(PkgConfig::LIBZIP INTERFACE "${METAGUARD_LIBZIP_INCLUDE_DIR}")
  target_link_libraries(PkgConfig::LIBZIP INTERFACE "${METAGUARD_LIBZIP_LIBRARY}")
endif()

# AddressSanitizer and UndefinedBehaviorSanitizer, stopping at the first finding.
set(METAGUARD_SANITIZE_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
