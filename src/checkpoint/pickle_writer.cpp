#include "checkpoint/pickle_writer.hpp"

namespace metaguard {

PickleWriter::PickleWriter() { out_ = "\x80\x02"; }

void PickleWriter::put_u32(uint32_t value) {
  for (int i = 0; i < 4; ++i) out_ += static_cast<char>((value >> (8 * i)) & 0xff);
}

void PickleWriter::global(std::string_view module, std::string_view name) {
  std::string key = std::string(module) + "\n" + std::string(name);
  auto it = memo_.find(key);
  if (it != memo_.end()) {
    if (it->second < 256) {
      out_ += 'h';
      out_ += static_cast<char>(it->second);
    } else {
      out_ += 'j';
      put_u32(it->second);
    }
    return;
  }
  out_ += 'c';
  out_ += key;
  out_ += '\n';
  auto index = static_cast<uint32_t>(memo_.size());
  memo_.emplace(key, index);
  if (index < 256) {
    out_ += 'q';
    out_ += static_cast<char>(index);
  } else {
    out_ += 'r';
    put_u32(index);
  }
}

void PickleWriter::mark() { out_ += '('; }
void PickleWriter::tuple_from_mark() { out_ += 't'; }
void PickleWriter::empty_tuple() { out_ += ')'; }

void PickleWriter::tuple_of_ints(const std::vector<int64_t>& values) {
  static const char kTupleN[] = {')', '\x85', '\x86', '\x87'};
  if (values.size() > 3) mark();
  for (int64_t value : values) integer(value);
  out_ += values.size() <= 3 ? kTupleN[values.size()] : 't';
}

void PickleWriter::integer(int64_t value) {
  if (value >= 0 && value < 256) {
    out_ += 'K';
    out_ += static_cast<char>(value);
  } else if (value >= 0 && value < 65536) {
    out_ += 'M';
    out_ += static_cast<char>(value & 0xff);
    out_ += static_cast<char>(value >> 8);
  } else if (value >= INT32_MIN && value <= INT32_MAX) {
    out_ += 'J';
    put_u32(static_cast<uint32_t>(static_cast<int32_t>(value)));
  } else {
    out_ += "\x8a\x08";  // LONG1 with 8 little-endian two's-complement bytes
    auto bits = static_cast<uint64_t>(value);
    for (int i = 0; i < 8; ++i) out_ += static_cast<char>((bits >> (8 * i)) & 0xff);
  }
}

void PickleWriter::boolean(bool value) { out_ += value ? '\x88' : '\x89'; }

void PickleWriter::string(std::string_view text) {
  out_ += 'X';
  put_u32(static_cast<uint32_t>(text.size()));
  out_ += text;
}

void PickleWriter::reduce() { out_ += 'R'; }
void PickleWriter::persistent_id() { out_ += 'Q'; }
void PickleWriter::set_items() { out_ += 'u'; }
void PickleWriter::stop() { out_ += '.'; }

}  // namespace metaguard
