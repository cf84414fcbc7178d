#include "checkpoint/safetensors_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/atomic_output.hpp"
#include "checkpoint/dtype_table.hpp"
#include "checkpoint/file_error.hpp"
#include "checkpoint/tensor_layout.hpp"

namespace metaguard {
namespace {

constexpr int kMaxJsonDepth = 16;  // the format needs 3

void read_exactly(int fd, uint64_t offset, char* out, size_t size, const std::string& path) {
  size_t done = 0;
  while (done < size) {
    ssize_t got = ::pread(fd, out + done, size - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail_file(path, fmt::format("cannot read: {}", std::strerror(errno)));
    if (got == 0) fail_file(path, "ends early (truncated)");
    done += static_cast<size_t>(got);
  }
}

// nlohmann-json parses nesting recursively; refuse deep nesting before handing it the text.
bool nesting_within(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

class FileRangeStream : public StorageStream {
 public:
  FileRangeStream(int fd, uint64_t offset, uint64_t size, const std::string& path)
      : fd_(fd), offset_(offset), left_(size), path_(path) {}
  size_t read(char* buffer, size_t size) override {
    size_t want = static_cast<size_t>(std::min<uint64_t>(size, left_));
    if (want == 0) return 0;
    ssize_t got;
    do {
      got = ::pread(fd_, buffer, want, static_cast<off_t>(offset_));
    } while (got < 0 && errno == EINTR);
    if (got < 0) fail_file(path_, fmt::format("cannot read: {}", std::strerror(errno)));
    if (got == 0) fail_file(path_, "ends early (truncated)");
    offset_ += static_cast<uint64_t>(got);
    left_ -= static_cast<uint64_t>(got);
    return static_cast<size_t>(got);
  }

 private:
  int fd_;
  uint64_t offset_;
  uint64_t left_;
  const std::string& path_;
};

int64_t json_count(const nlohmann::json& value, const std::string& path, const std::string& what) {
  if (value.is_number_unsigned() && value.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(value.get<uint64_t>());
  }
  if (value.is_number_integer() && value.get<int64_t>() >= 0) return value.get<int64_t>();
  fail_file(path, fmt::format("{} is not a non-negative integer", what));
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path) {
  contents_.format = "safetensors";
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) fail_file(path, fmt::format("cannot read: {}", std::strerror(errno)));
  try {
    struct stat info {};
    if (::fstat(fd_, &info) != 0) fail_file(path, fmt::format("cannot read: {}", std::strerror(errno)));
    const auto file_size = static_cast<uint64_t>(info.st_size);
    if (file_size < 8) fail_file(path, "is too short for a safetensors header");
    unsigned char length_bytes[8];
    read_exactly(fd_, 0, reinterpret_cast<char*>(length_bytes), 8, path);
    uint64_t header_size = 0;
    for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | length_bytes[i];
    if (header_size > file_size - 8) {
      fail_file(path, fmt::format("safetensors header claims {} bytes, but the file holds {} after the "
                                  "length field (truncated or not safetensors)", header_size, file_size - 8));
    }
    if (header_size > kMaxHeaderBytes) {
      fail_file(path, fmt::format("safetensors header is {} bytes, over the format's limit of {}",
                                  header_size, kMaxHeaderBytes));
    }
    std::string text(static_cast<size_t>(header_size), '\0');
    read_exactly(fd_, 8, text.data(), text.size(), path);
    if (!nesting_within(text, kMaxJsonDepth)) fail_file(path, "safetensors header nests JSON too deeply");
    nlohmann::json header = nlohmann::json::parse(text, nullptr, false);
    if (header.is_discarded()) fail_file(path, "safetensors header is not valid JSON");
    if (!header.is_object()) fail_file(path, "safetensors header is not a JSON object");

    const uint64_t data_start = 8 + header_size;
    const uint64_t data_size = file_size - data_start;
    struct Range {
      uint64_t begin, end;
      size_t tensor;
    };
    std::vector<Range> ranges;
    for (const auto& [name, entry] : header.items()) {
      const std::string quoted = printable(name);
      if (name == "__metadata__") {
        if (!entry.is_object()) fail_file(path, "safetensors __metadata__ is not an object");
        for (const auto& [key, value] : entry.items()) {
          if (!value.is_string()) {
            fail_file(path, fmt::format("safetensors __metadata__ '{}' is not a string", printable(key)));
          }
          contents_.metadata[key] = value;
        }
        continue;
      }
      if (!entry.is_object()) fail_file(path, fmt::format("tensor '{}' is not a JSON object", quoted));
      auto dtype_field = entry.find("dtype");
      auto shape_field = entry.find("shape");
      auto offsets_field = entry.find("data_offsets");
      if (dtype_field == entry.end() || !dtype_field->is_string()) {
        fail_file(path, fmt::format("tensor '{}' has no dtype", quoted));
      }
      const std::string code = dtype_field->get<std::string>();
      auto dtype = dtype_by_safetensors_code(code);
      if (!dtype) {
        fail_file(path, fmt::format("tensor '{}' has dtype '{}', which metaguard does not read (it reads "
                                    "BOOL, U8, I8, I16, I32, I64, F16, BF16, F32, F64, C64)", quoted, printable(code)));
      }
      if (shape_field == entry.end() || !shape_field->is_array()) {
        fail_file(path, fmt::format("tensor '{}' has no shape array", quoted));
      }
      if (offsets_field == entry.end() || !offsets_field->is_array() || offsets_field->size() != 2) {
        fail_file(path, fmt::format("tensor '{}' has no data_offsets pair", quoted));
      }
      CheckpointTensor tensor;
      tensor.name = name;
      tensor.dtype = std::string(dtype->name);
      for (const auto& dim : *shape_field) {
        tensor.shape.push_back(json_count(dim, path, fmt::format("a dim of tensor '{}'", quoted)));
      }
      auto begin = static_cast<uint64_t>(json_count((*offsets_field)[0], path, fmt::format("tensor '{}''s begin offset", quoted)));
      auto end = static_cast<uint64_t>(json_count((*offsets_field)[1], path, fmt::format("tensor '{}''s end offset", quoted)));
      if (begin > end || end > data_size) {
        fail_file(path, fmt::format("tensor '{}' has data_offsets [{}, {}] outside the {} data bytes",
                                    quoted, begin, end, data_size));
      }
      auto numel = checked_numel(tensor.shape);
      auto nbytes = numel ? checked_multiply(*numel, dtype->element_size) : std::nullopt;
      if (!nbytes || static_cast<uint64_t>(*nbytes) != end - begin) {
        fail_file(path, fmt::format("tensor '{}' of shape [{}] and dtype {} needs {} bytes, but its "
                                    "data_offsets give {}", quoted, fmt::join(tensor.shape, ", "), code,
                                    nbytes ? fmt::format("{}", *nbytes) : std::string("over 2^63"), end - begin));
      }
      tensor.numel = *numel;
      tensor.stride = contiguous_strides(tensor.shape);
      tensor.contiguous = true;
      tensor.device = "cpu";

      CheckpointStorage storage;
      storage.key = name;
      storage.dtype = tensor.dtype;
      storage.numel = *numel;
      storage.nbytes = *nbytes;
      storage.location = "cpu";
      storage.file_offset = data_start + begin;
      storage.stored_size = end - begin;
      tensor.storage = contents_.storages.size();
      ranges.push_back({begin, end, contents_.tensors.size()});
      contents_.storages.push_back(std::move(storage));
      contents_.tensors.push_back(std::move(tensor));
    }

    // The ranges must tile [0, data_size): sort by position, then walk.
    std::sort(ranges.begin(), ranges.end(), [&](const Range& a, const Range& b) {
      return std::tie(a.begin, a.end, contents_.tensors[a.tensor].name) <
             std::tie(b.begin, b.end, contents_.tensors[b.tensor].name);
    });
    uint64_t covered = 0;
    for (const auto& range : ranges) {
      if (range.begin != covered) {
        fail_file(path, fmt::format("tensor '{}' starts at data byte {}, but the previous tensor ends at "
                                    "byte {} ({})", printable(contents_.tensors[range.tensor].name),
                                    range.begin, covered, range.begin < covered ? "overlap" : "a gap"));
      }
      covered = range.end;
    }
    if (covered != data_size) {
      fail_file(path, fmt::format("safetensors tensors cover {} of the {} data bytes (unindexed bytes at the end)",
                                  covered, data_size));
    }
    // Report in data order, each tensor with its own storage.
    CheckpointContents ordered;
    ordered.format = contents_.format;
    ordered.metadata = std::move(contents_.metadata);
    for (const auto& range : ranges) {
      CheckpointTensor tensor = std::move(contents_.tensors[range.tensor]);
      ordered.storages.push_back(std::move(contents_.storages[*tensor.storage]));
      tensor.storage = ordered.storages.size() - 1;
      ordered.tensors.push_back(std::move(tensor));
    }
    contents_ = std::move(ordered);
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::unique_ptr<StorageStream> SafetensorsFile::open_storage(size_t index) const {
  const CheckpointStorage& storage = contents_.storages.at(index);
  return std::make_unique<FileRangeStream>(fd_, *storage.file_offset, storage.stored_size, path_);
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& entry : entries) {
    auto dtype = dtype_by_name(entry.dtype);
    if (!dtype || dtype->safetensors_code.empty()) {
      fail_file(path, fmt::format("safetensors has no dtype code for tensor '{}' of dtype {}",
                                  printable(entry.name), printable(entry.dtype)));
    }
    if (entry.name == "__metadata__" || !names.insert(entry.name).second) {
      fail_file(path, fmt::format("tensor name '{}' is reserved or repeated", printable(entry.name)));
    }
    auto numel = checked_numel(entry.shape);
    auto nbytes = numel ? checked_multiply(*numel, dtype->element_size) : std::nullopt;
    if (!nbytes || static_cast<uint64_t>(*nbytes) != entry.bytes.size()) {
      fail_file(path, fmt::format("tensor '{}' of shape [{}] {} needs {} bytes but {} were given",
                                  printable(entry.name), fmt::join(entry.shape, ", "), entry.dtype,
                                  nbytes ? *nbytes : -1, entry.bytes.size()));
    }
    header[entry.name] = {{"dtype", dtype->safetensors_code},
                          {"shape", entry.shape},
                          {"data_offsets", {offset, offset + entry.bytes.size()}}};
    offset += entry.bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string length(8, '\0');
  for (int i = 0; i < 8; ++i) length[static_cast<size_t>(i)] = static_cast<char>((text.size() >> (8 * i)) & 0xff);

  AtomicOutputFile out(path);
  out.write(length);
  out.write(text);
  for (const auto& entry : entries) out.write(entry.bytes);
  out.commit();
}

}  // namespace metaguard
