#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace metaguard {

// Emits pickle protocol 2 opcodes, only those that PyTorch 1.13's weights_only unpickler
// accepts (so no floats, no protocol 4 framing). Globals are memoized: the second use of a
// global is a BINGET, as Python's pickler does.
class PickleWriter {
 public:
  PickleWriter();  // writes PROTO 2

  void global(std::string_view module, std::string_view name);
  void mark();
  void tuple_from_mark();
  void tuple_of_ints(const std::vector<int64_t>& values);
  void empty_tuple();
  void integer(int64_t value);
  void boolean(bool value);
  void string(std::string_view text);  // UTF-8
  void reduce();
  void persistent_id();  // BINPERSID: pops the id tuple
  void set_items();      // SETITEMS: pops to the mark
  void stop();

  const std::string& bytes() const { return out_; }

 private:
  void put_u32(uint32_t value);
  std::string out_;
  std::map<std::string, uint32_t, std::less<>> memo_;
};

}  // namespace metaguard
