// NaN/Inf counting per tensor, against a plain loop over each view's elements in this file
// (std::isnan on the floats themselves), with buffers small enough to force refills and
// re-reads; and the layout arithmetic the readers rely on.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>

#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/checkpoint_writer.hpp"
#include "checkpoint/tensor_layout.hpp"
#include "checkpoint/value_scan.hpp"
#include "unit/base/checkpoint_test_support.hpp"

namespace {

using metaguard::WriteTensor;
namespace test = metaguard::test;

// Counts non-finite elements of a view the obvious way: every row-major position.
int64_t naive_nonfinite(const std::vector<float>& storage, const WriteTensor& view) {
  int64_t numel = 1;
  for (int64_t dim : view.shape) numel *= dim;
  int64_t count = 0;
  for (int64_t k = 0; k < numel; ++k) {
    int64_t rest = k;
    int64_t index = view.storage_offset;
    for (size_t d = view.shape.size(); d-- > 0;) {
      index += (rest % view.shape[d]) * view.stride[d];
      rest /= view.shape[d];
    }
    if (!std::isfinite(storage[static_cast<size_t>(index)])) ++count;
  }
  return count;
}

}  // namespace

TEST_CASE("checkpoint value scan: per-view counts match a plain loop", "[checkpoint][values]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> data(240);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(i);
  for (size_t i : {3, 17, 18, 64, 100, 101, 199, 239}) data[i] = i % 2 ? nan : -inf;
  std::vector<float> clean(16, 1.0f);
  const std::string bytes(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float));
  const std::string clean_bytes(reinterpret_cast<const char*>(clean.data()), clean.size() * sizeof(float));

  using V = std::vector<int64_t>;
  std::vector<WriteTensor> views = {
      metaguard::whole_storage_tensor("whole", "float32", {240}, 0),
      {"matrix", "float32", V{12, 20}, V{20, 1}, 0, 0},
      {"transposed", "float32", V{20, 12}, V{1, 20}, 0, 0},
      {"slice", "float32", V{50}, V{1}, 60, 0},
      {"every_third", "float32", V{80}, V{3}, 0, 0},
      {"block", "float32", V{4, 5}, V{20, 1}, 83, 0},
      {"expanded", "float32", V{6, 4}, V{0, 1}, 16, 0},     // rows repeat elements 16..19
      {"overlapping", "float32", V{30, 8}, V{7, 1}, 0, 0},  // windows overlap (as_strided)
      {"backwards_dims", "float32", V{3, 4, 5}, V{1, 60, 3}, 2, 0},
      {"scalar", "float32", V{}, V{}, 17, 0},
      {"empty", "float32", V{0, 4}, V{4, 1}, 0, 0},
      metaguard::whole_storage_tensor("clean", "float32", {16}, 1),
  };
  test::TempDir dir;
  const std::string path = dir.file("values.pt");
  metaguard::write_torch_checkpoint(path, {{"float32", bytes}, {"float32", clean_bytes}}, views);
  auto file = metaguard::CheckpointFile::open(path);
  for (size_t buffer : {16, 40, 64, 1024, 1 << 20}) {
    DYNAMIC_SECTION("buffer " << buffer) {
      auto scan = metaguard::scan_values(file, buffer);
      REQUIRE(scan.tensors.size() == views.size());
      for (size_t t = 0; t < views.size(); ++t) {
        INFO(views[t].name);
        const auto& storage = *views[t].storage == 0 ? data : clean;
        CHECK(scan.tensors[t].total() == naive_nonfinite(storage, views[t]));
      }
      CHECK(scan.bytes_read == bytes.size() + clean_bytes.size());
      auto findings = metaguard::nonfinite_findings(file, scan);
      size_t flagged = 0;
      for (size_t t = 0; t < views.size(); ++t) {
        if (naive_nonfinite(*views[t].storage == 0 ? data : clean, views[t]) > 0) ++flagged;
      }
      CHECK(findings.size() == flagged);
      for (const auto& finding : findings) {
        CHECK(finding.code == "nonfinite-values");
        CHECK(finding.severity == metaguard::Severity::Error);
      }
    }
  }
}

TEST_CASE("checkpoint value scan: every float kind, bit patterns from IEEE 754", "[checkpoint][values]") {
  // float16: 1.0, +Inf, NaN, -Inf, max finite (0x7bff)
  const std::string f16("\x00\x3c\x00\x7c\x00\x7e\x00\xfc\xff\x7b", 10);
  // bfloat16: 1.0, NaN (0x7fc0), +Inf (0x7f80), max finite (0x7f7f)
  const std::string bf16("\x80\x3f\xc0\x7f\x80\x7f\x7f\x7f", 8);
  std::vector<double> f64 = {1.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::max()};
  // complex64: (1, NaN), (Inf, 1), (2, 3)
  std::vector<float> c64 = {1.0f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                            1.0f, 2.0f, 3.0f};
  std::vector<double> c128 = {std::numeric_limits<double>::quiet_NaN(), 0.0};
  const std::string ints("\xff\xff\xff\x7f\x00\x00\x80\x7f", 8);  // int32s whose bits spell Inf: not floats
  auto raw = [](const auto& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(v[0]));
  };
  const std::string f64_bytes = raw(f64), c64_bytes = raw(c64), c128_bytes = raw(c128);
  test::TempDir dir;
  const std::string path = dir.file("kinds.pt");
  metaguard::write_torch_checkpoint(
      path,
      {{"float16", f16}, {"bfloat16", bf16}, {"float64", f64_bytes}, {"complex64", c64_bytes},
       {"complex128", c128_bytes}, {"int32", ints}},
      {metaguard::whole_storage_tensor("f16", "float16", {5}, 0),
       metaguard::whole_storage_tensor("bf16", "bfloat16", {4}, 1),
       metaguard::whole_storage_tensor("f64", "float64", {3}, 2),
       metaguard::whole_storage_tensor("c64", "complex64", {3}, 3),
       metaguard::whole_storage_tensor("c128", "complex128", {1}, 4),
       metaguard::whole_storage_tensor("i32", "int32", {2}, 5)});
  auto file = metaguard::CheckpointFile::open(path);
  auto scan = metaguard::scan_values(file, 16);
  CHECK(scan.tensors[0].nan == 1);
  CHECK(scan.tensors[0].inf == 2);
  CHECK(scan.tensors[1].nan == 1);
  CHECK(scan.tensors[1].inf == 1);
  CHECK(scan.tensors[2].nan == 0);
  CHECK(scan.tensors[2].inf == 1);
  CHECK(scan.tensors[3].nan == 1);
  CHECK(scan.tensors[3].inf == 1);
  CHECK(scan.tensors[4].nan == 1);
  CHECK(scan.tensors[5].total() == 0);
}

TEST_CASE("checkpoint layout: numel, contiguity and extents as PyTorch defines them", "[checkpoint][layout]") {
  using metaguard::checked_numel;
  using metaguard::is_contiguous;
  using metaguard::required_storage_numel;
  using V = std::vector<int64_t>;
  CHECK(checked_numel({}) == 1);
  CHECK(checked_numel({0, 5}) == 0);
  CHECK(checked_numel({1LL << 40, 1LL << 40}) == std::nullopt);
  CHECK(checked_numel({-1}) == std::nullopt);
  // torch.empty(2, 1, 3).stride() == (3, 3, 1); torch.empty(0, 3).stride() == (3, 1)
  CHECK(metaguard::contiguous_strides({2, 1, 3}) == V{3, 3, 1});
  CHECK(metaguard::contiguous_strides({0, 3}) == V{3, 1});
  CHECK(is_contiguous({2, 3}, {3, 1}));
  CHECK_FALSE(is_contiguous({3, 2}, {1, 3}));
  CHECK(is_contiguous({2, 1, 3}, {3, 99, 1}));  // size-1 dims do not count
  CHECK(is_contiguous({0, 3}, {1, 7}));         // empty tensors are contiguous
  CHECK(required_storage_numel({2, 3}, {3, 1}, 0) == 6);
  CHECK(required_storage_numel({3, 2}, {1, 3}, 0) == 6);
  CHECK(required_storage_numel({4}, {1}, 6) == 10);
  CHECK(required_storage_numel({0, 3}, {3, 1}, 1000) == 0);  // empty views need no storage
  CHECK(required_storage_numel({}, {}, 5) == 6);
  CHECK(required_storage_numel({3}, {1LL << 62}, 0) == std::nullopt);  // 2 * 2^62 overflows
  CHECK(required_storage_numel({2}, {-1}, 4) == std::nullopt);
  CHECK(required_storage_numel({2}, {1}, -1) == std::nullopt);
  CHECK(required_storage_numel({2}, {1, 1}, 0) == std::nullopt);
}
