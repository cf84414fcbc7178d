#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace metaguard {

// A text file as byte-level tokens (token id = byte value, 0..255: no vocabulary file, any
// text or binary file works), split into a training part and a held-out validation part
// (the file's last `validation_share`, cut at a byte boundary).
class ByteCorpus {
 public:
  // Reads `path`. Throws InputError naming the file when it is missing, unreadable, empty,
  // or too short to hold one training and one validation sequence of `seq_len` + 1 tokens
  // (inputs plus the next-token targets).
  static ByteCorpus load(const std::string& path, int64_t seq_len, double validation_share = 0.1);

  const std::string& path() const { return path_; }
  int64_t size() const { return static_cast<int64_t>(bytes_.size()); }
  int64_t train_size() const { return split_; }
  int64_t validation_size() const { return size() - split_; }
  // 64-bit content hash of the whole file (a resumed run must see the same data).
  uint64_t fingerprint() const { return fingerprint_; }

  // Tokens [offset, offset + length) of the training or validation part.
  const uint8_t* train_tokens(int64_t offset) const { return bytes_.data() + offset; }
  const uint8_t* validation_tokens(int64_t offset) const { return bytes_.data() + split_ + offset; }

 private:
  std::string path_;
  std::vector<uint8_t> bytes_;
  int64_t split_ = 0;
  uint64_t fingerprint_ = 0;
};

}  // namespace metaguard
