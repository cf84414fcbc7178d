// ZipArchive (libzip plus the offset reader) on archives assembled byte by byte here, so
// that zip64 directories, padded local headers and damage can be placed exactly.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/zip_archive.hpp"
#include "core/errors.hpp"
#include "unit/base/checkpoint_test_support.hpp"

namespace {

using metaguard::InputError;
using metaguard::ZipArchive;
namespace test = metaguard::test;

uint32_t crc32_of(const std::string& data) {  // bitwise CRC-32 (IEEE), as zip uses
  uint32_t crc = 0xffffffffu;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void put(std::string& out, uint64_t value, int width) {
  for (int i = 0; i < width; ++i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}

struct Entry {
  std::string name;
  std::string data;
  size_t local_padding = 0;  // extra-field bytes in the local header only (torch.save aligns this way)
  bool bad_crc = false;
};

struct Built {
  std::string bytes;
  std::vector<uint64_t> data_offsets;
};

// A stored (uncompressed) zip. zip64: central sizes and offsets are 0xffffffff with the real
// values in a zip64 extra field, and the end records are zip64 ones.
Built build_zip(const std::vector<Entry>& entries, bool zip64) {
  Built built;
  std::string& out = built.bytes;
  std::vector<uint64_t> header_offsets;
  for (const auto& entry : entries) {
    header_offsets.push_back(out.size());
    put(out, 0x04034b50, 4);
    put(out, 20, 2);  // version needed
    put(out, 0, 2);   // flags
    put(out, 0, 2);   // stored
    put(out, 0, 4);   // time, date
    put(out, entry.bad_crc ? crc32_of(entry.data) ^ 1u : crc32_of(entry.data), 4);
    put(out, entry.data.size(), 4);
    put(out, entry.data.size(), 4);
    put(out, entry.name.size(), 2);
    put(out, entry.local_padding ? entry.local_padding + 4 : 0, 2);
    out += entry.name;
    if (entry.local_padding) {
      put(out, 0x4246, 2);  // an unknown extra field of padding, as torch.save writes ("FB")
      put(out, entry.local_padding, 2);
      out += std::string(entry.local_padding, 'Z');
    }
    built.data_offsets.push_back(out.size());
    out += entry.data;
  }
  const uint64_t directory_offset = out.size();
  for (size_t i = 0; i < entries.size(); ++i) {
    const auto& entry = entries[i];
    put(out, 0x02014b50, 4);
    put(out, zip64 ? 45 : 20, 2);  // made by
    put(out, zip64 ? 45 : 20, 2);  // needed
    put(out, 0, 2);
    put(out, 0, 2);
    put(out, 0, 4);
    put(out, entry.bad_crc ? crc32_of(entry.data) ^ 1u : crc32_of(entry.data), 4);
    put(out, zip64 ? 0xffffffffu : entry.data.size(), 4);
    put(out, zip64 ? 0xffffffffu : entry.data.size(), 4);
    put(out, entry.name.size(), 2);
    put(out, zip64 ? 28 : 0, 2);
    put(out, 0, 2);  // comment
    put(out, 0, 2);  // disk
    put(out, 0, 2);  // internal attributes
    put(out, 0, 4);  // external attributes
    put(out, zip64 ? 0xffffffffu : header_offsets[i], 4);
    out += entry.name;
    if (zip64) {
      put(out, 0x0001, 2);
      put(out, 24, 2);
      put(out, entry.data.size(), 8);
      put(out, entry.data.size(), 8);
      put(out, header_offsets[i], 8);
    }
  }
  const uint64_t directory_size = out.size() - directory_offset;
  if (zip64) {
    const uint64_t zip64_end = out.size();
    put(out, 0x06064b50, 4);
    put(out, 44, 8);
    put(out, 45, 2);
    put(out, 45, 2);
    put(out, 0, 4);
    put(out, 0, 4);
    put(out, entries.size(), 8);
    put(out, entries.size(), 8);
    put(out, directory_size, 8);
    put(out, directory_offset, 8);
    put(out, 0x07064b50, 4);  // locator
    put(out, 0, 4);
    put(out, zip64_end, 8);
    put(out, 1, 4);
  }
  put(out, 0x06054b50, 4);
  put(out, 0, 2);
  put(out, 0, 2);
  put(out, zip64 ? 0xffff : entries.size(), 2);
  put(out, zip64 ? 0xffff : entries.size(), 2);
  put(out, zip64 ? 0xffffffffu : directory_size, 4);
  put(out, zip64 ? 0xffffffffu : directory_offset, 4);
  put(out, 0, 2);
  return built;
}

std::string open_error(const std::string& path) {
  try {
    ZipArchive archive(path);
  } catch (const InputError& error) {
    return error.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("checkpoint zip: record offsets in plain and zip64 archives", "[checkpoint][zip]") {
  test::TempDir dir;
  std::vector<Entry> entries = {{"archive/data.pkl", "pickle bytes", 0, false},
                                {"archive/data/0", std::string(100, 'w'), 37, false},
                                {"archive/data/1", "", 3, false}};
  for (bool zip64 : {false, true}) {
    DYNAMIC_SECTION((zip64 ? "zip64" : "zip32")) {
      Built built = build_zip(entries, zip64);
      const std::string path = dir.file(zip64 ? "a64.zip" : "a32.zip");
      test::write_binary(path, built.bytes);
      ZipArchive archive(path);
      REQUIRE(archive.records().size() == entries.size());
      for (size_t i = 0; i < entries.size(); ++i) {
        const auto* record = archive.find(entries[i].name);
        REQUIRE(record != nullptr);
        CHECK(record->data_offset == built.data_offsets[i]);
        CHECK(record->size == entries[i].data.size());
        CHECK_FALSE(record->compressed);
        CHECK(archive.read(*record, 1 << 20) == entries[i].data);
        CHECK(built.bytes.substr(record->data_offset, record->size) == entries[i].data);
      }
      CHECK(archive.find("archive/data/2") == nullptr);
    }
  }
}

TEST_CASE("checkpoint zip: damage is reported, not trusted", "[checkpoint][zip]") {
  test::TempDir dir;
  const std::string path = dir.file("damaged.zip");
  {
    Built built = build_zip({{"a", "payload", 0, true}}, false);
    test::write_binary(path, built.bytes);
    ZipArchive archive(path);
    // Listing does not read data; reading does, and checks the CRC-32.
    try {
      archive.read(archive.records()[0], 100);
      FAIL("a CRC mismatch went unnoticed");
    } catch (const InputError& error) {
      CHECK(std::string(error.what()) == "'" + path + "': zip record 'a' fails its CRC-32 check (the file is corrupt)");
    }
    CHECK_THAT(([&] {
                 try {
                   archive.read(archive.records()[0], 3);
                 } catch (const InputError& error) {
                   return std::string(error.what());
                 }
                 return std::string();
               })(),
               Catch::Contains("claims 7 bytes, more than the 3 metaguard reads"));
  }
  {
    Built built = build_zip({{"a", "1", 0, false}, {"a", "2", 0, false}}, false);
    test::write_binary(path, built.bytes);
    CHECK_THAT(open_error(path), Catch::Contains("two zip records named 'a'"));
  }
  {
    Built built = build_zip({{"a", "payload", 0, false}}, false);
    std::string truncated = built.bytes.substr(0, built.bytes.size() - 30);
    test::write_binary(path, truncated);
    CHECK_THAT(open_error(path), Catch::StartsWith("'" + path + "': is not a zip archive"));
    // The local header's signature is damaged: the directory points at garbage.
    std::string bad_local = built.bytes;
    bad_local[0] = 'X';
    test::write_binary(path, bad_local);
    CHECK_THAT(open_error(path), Catch::Contains("damaged local header"));
  }
  {
    Built built = build_zip({{"a", "payload", 0, false}}, true);
    // The zip64 end record claims 2^40 records in a directory of 60 bytes.
    std::string lying = built.bytes;
    size_t zip64_end = lying.size() - 22 - 20 - 56;
    for (int i = 0; i < 8; ++i) lying[zip64_end + 32 + static_cast<size_t>(i)] = i == 5 ? '\x01' : '\0';
    test::write_binary(path, lying);
    CHECK_THAT(open_error(path), Catch::StartsWith("'" + path + "': "));
  }
  test::write_binary(path, "PK");
  CHECK_THAT(open_error(path), Catch::StartsWith("'" + path + "': "));
  CHECK_THAT(open_error(dir.file("absent.zip")), Catch::Contains("cannot read"));
  CHECK_THAT(open_error(dir.path()), Catch::StartsWith("'" + dir.path() + "': "));
}

TEST_CASE("checkpoint zip: PyTorch 2.1's byteorder record is honoured", "[checkpoint][zip]") {
  test::TempDir dir;
  const std::string path = dir.file("order.pt");
  const std::string empty_dict("\x80\x02}.", 4);
  test::write_binary(path, build_zip({{"m/data.pkl", empty_dict, 0, false}, {"m/byteorder", "little", 0, false}}, false).bytes);
  CHECK(metaguard::CheckpointFile::open(path).tensors().empty());
  test::write_binary(path, build_zip({{"m/data.pkl", empty_dict, 0, false}, {"m/byteorder", "big", 0, false}}, false).bytes);
  try {
    metaguard::CheckpointFile::open(path);
    FAIL("a big-endian checkpoint was accepted");
  } catch (const InputError& error) {
    CHECK_THAT(error.what(), Catch::Contains("'big' byte order"));
  }
}
