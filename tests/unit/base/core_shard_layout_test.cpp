// How --strategy shard cuts a tensor (core/shard_layout): contiguous slices of the flattened
// data, padded to a multiple of the world size, empty slices where the data runs out.
#include <catch2/catch.hpp>
#include <rapidcheck/catch.h>

#include <vector>

#include "core/hashing.hpp"
#include "core/shard_layout.hpp"

using namespace metaguard;

TEST_CASE("five elements over four ranks: slices of two, the last rank holds only padding", "[shard]") {
  ShardLayout layout(5, 4);
  CHECK(layout.per_rank() == 2);
  CHECK(layout.padded_numel() == 8);
  CHECK(layout.slice(0).begin == 0);
  CHECK(layout.slice(0).end == 2);
  CHECK(layout.slice(2).begin == 4);
  CHECK(layout.slice(2).end == 5);
  CHECK(layout.slice(3).empty());
  CHECK(layout.empty_ranks() == 1);
}

TEST_CASE("an even split has no padding and no empty slice; one rank holds everything", "[shard]") {
  ShardLayout even(4096, 8);
  CHECK(even.per_rank() == 512);
  CHECK(even.padded_numel() == 4096);
  CHECK(even.empty_ranks() == 0);
  ShardLayout alone(7, 1);
  CHECK(alone.slice(0).size() == 7);
  ShardLayout nothing(0, 3);
  CHECK(nothing.per_rank() == 0);
  CHECK(nothing.empty_ranks() == 3);
}

TEST_CASE("bad layouts are refused", "[shard]") {
  CHECK_THROWS(ShardLayout(-1, 2));
  CHECK_THROWS(ShardLayout(4, 0));
  CHECK_THROWS(ShardLayout(4, 2).slice(2));
}

TEST_CASE("slices cover the data once, in rank order, within the padded buffer", "[shard][property]") {
  rc::prop("any numel and world size", [] {
    const int64_t numel = *rc::gen::inRange<int64_t>(0, 100000);
    const int world = *rc::gen::inRange(1, 300);
    ShardLayout layout(numel, world);
    RC_ASSERT(layout.padded_numel() >= numel);
    RC_ASSERT(layout.padded_numel() - numel < world);  // less than one element of padding per rank
    int64_t next = 0;
    for (int r = 0; r < world; ++r) {
      ShardSlice slice = layout.slice(r);
      RC_ASSERT(slice.size() <= layout.per_rank());
      if (!slice.empty()) {
        RC_ASSERT(slice.begin == next);  // contiguous, in rank order
        next = slice.end;
      }
      // Empty exactly where the slices before it already hold everything.
      RC_ASSERT(slice.empty() == (layout.per_rank() * r >= numel));
    }
    RC_ASSERT(next == numel);
  });
}

// element_hash (core/hashing): the hash a sharded run combines from its ranks' slices is the
// hash of the whole tensor, wherever the cuts fall; and it sees a single changed element.
TEST_CASE("element hash: slices shifted to where they start add up to the whole's hash", "[shard][hash]") {
  std::vector<float> values(1003);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i % 17) * 0.25f - 1.0f;
  const uint64_t whole = metaguard::element_hash(values.data(), static_cast<int64_t>(values.size()), 4);
  for (int world : {1, 2, 3, 7, 1003, 2000}) {
    CAPTURE(world);
    metaguard::ShardLayout layout(static_cast<int64_t>(values.size()), world);
    uint64_t sum = 0;
    for (int r = 0; r < world; ++r) {
      const metaguard::ShardSlice slice = layout.slice(r);
      sum += metaguard::shift_element_hash(metaguard::element_hash(values.data() + slice.begin, slice.size(), 4), slice.begin);
    }
    CHECK(sum == whole);
  }
  // Any one element changed, anywhere, changes the hash; so does a swap of two elements.
  for (size_t at : {size_t{0}, size_t{1}, size_t{500}, values.size() - 1}) {
    std::vector<float> other = values;
    other[at] += 1.0f;
    CHECK(metaguard::element_hash(other.data(), static_cast<int64_t>(other.size()), 4) != whole);
  }
  std::vector<float> swapped = values;
  std::swap(swapped[3], swapped[4]);
  CHECK(metaguard::element_hash(swapped.data(), static_cast<int64_t>(swapped.size()), 4) != whole);
  // Zeros count: a longer run of zeros is another tensor.
  std::vector<uint16_t> zeros(10, 0);
  CHECK(metaguard::element_hash(zeros.data(), 9, 2) != metaguard::element_hash(zeros.data(), 10, 2));
}
