#include <string>
#include <vector>

#include "core/errors.hpp"
#include "front/commands.hpp"

namespace metaguard::cli {

// Not built yet: says so plainly instead of pretending (see the open issues).
int run_explain(const std::vector<std::string>& args) {
  (void)args;
  throw InputError("'explain' is not available in this build yet");
}

}  // namespace metaguard::cli
