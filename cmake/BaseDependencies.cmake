# What the torch-free library (metaguard_base) needs, all Debian 12 packages: found once here
# for the main build and the standalone sanitizer and fuzzing builds (tests/sanitize,
# tests/fuzz), which compile the same sources.
find_package(fmt REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
# model_config.yaml, the config LitGPT writes beside every checkpoint (Debian: libyaml-cpp-dev).
find_package(yaml-cpp REQUIRED)
# libzip's own CMake config on Debian 12 names tools from other packages; pkg-config does not.
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)

# AddressSanitizer and UndefinedBehaviorSanitizer, stopping at the first finding.
set(METAGUARD_SANITIZE_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
