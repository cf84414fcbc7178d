#pragma once
#include <stdexcept>
#include <string>

namespace metaguard {

// Bad flags, unreadable or corrupt files, unknown models: the user's to fix (exit 2).
// The message names the file or flag and what is wrong, without the "metaguard: error:" prefix.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace metaguard
