// The pickle reader (data.pkl of a torch.save file) and what turns its document into tensor
// entries: any input either parses or is an InputError naming the file; anything else
// (another exception, a sanitizer report, a leak) is a finding.
#include <cstdint>
#include <string_view>

#include "checkpoint/pickle_flatten.hpp"
#include "checkpoint/pickle_reader.hpp"
#include "core/errors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    metaguard::PickleDocument document =
        metaguard::read_pickle(std::string_view(reinterpret_cast<const char*>(data), size), "data.pkl");
    metaguard::flatten_pickle(document, "data.pkl");
  } catch (const metaguard::InputError&) {
  }
  return 0;
}
