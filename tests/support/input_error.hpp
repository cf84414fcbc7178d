#pragma once
#include <functional>
#include <string>

#include "core/errors.hpp"

namespace metaguard::test {

// The InputError message `action` throws, or "" when it throws none.
inline std::string input_error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const InputError& error) {
    return error.what();
  }
  return "";
}

}  // namespace metaguard::test
