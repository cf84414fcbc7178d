#include "train/byte_corpus.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "core/errors.hpp"
#include "core/hashing.hpp"

namespace metaguard {

ByteCorpus ByteCorpus::load(const std::string& path, int64_t seq_len, double validation_share) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    throw InputError(fmt::format("--data '{}': cannot read it: {}", path, std::strerror(errno)));
  }
  if (!S_ISREG(info.st_mode)) throw InputError(fmt::format("--data '{}': is not a regular file", path));
  if (info.st_size == 0) throw InputError(fmt::format("--data '{}': the file is empty", path));
  const int64_t need = 2 * (seq_len + 1);
  // One sequence for training and one for validation, each seq_len + 1 tokens.
  if (info.st_size < need) {
    throw InputError(fmt::format("--data '{}': {} bytes is shorter than one training and one validation sequence "
                                 "({} bytes each at --seq-len {})",
                                 path, info.st_size, seq_len + 1, seq_len));
  }
  ByteCorpus corpus;
  corpus.path_ = path;
  corpus.bytes_.resize(static_cast<size_t>(info.st_size));
  std::ifstream in(path, std::ios::binary);
  if (!in.read(reinterpret_cast<char*>(corpus.bytes_.data()), info.st_size)) {
    throw InputError(fmt::format("--data '{}': could not read {} bytes", path, info.st_size));
  }
  const int64_t size = corpus.size();
  int64_t validation = static_cast<int64_t>(static_cast<double>(size) * validation_share);
  validation = std::max(validation, seq_len + 1);
  if (size - validation < seq_len + 1) validation = size - (seq_len + 1);
  corpus.split_ = size - validation;
  corpus.fingerprint_ = hash_bytes(corpus.bytes_.data(), corpus.bytes_.size(), 0x636f72707573ULL);
  return corpus;
}

}  // namespace metaguard
