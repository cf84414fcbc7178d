#include <string>
#include <vector>

#include "core/errors.hpp"
#include "torch/torch_commands.hpp"

namespace metaguard::cli {

// Not built yet: says so plainly instead of pretending (see the open issues).
int run_train(const std::vector<std::string>& args) {
  (void)args;
  throw InputError("'train' is not available in this build yet");
}

}  // namespace metaguard::cli
