// SliceReader (program/slice_reader): three ranks (threads with a real rendezvous) each read
// only their slices of a checkpoint PyTorch wrote, get exactly the file's bytes, and check the
// records' CRC-32s together; one flipped bit in any rank's part is found by every rank,
// though no rank read the whole record.
#include <catch2/catch.hpp>

#include <thread>

#include <torch/torch.h>

#include "checkpoint/checkpoint_reader.hpp"
#include "core/errors.hpp"
#include "load/storage_reader.hpp"
#include "model/gpt.hpp"
#include "model/gpt_config.hpp"
#include "program/slice_reader.hpp"
#include "support/paths.hpp"
#include "support/input_error.hpp"
#include "support/scratch_dir.hpp"
#include "support/thread_gatherer.hpp"
#include "walk/module_walker.hpp"

using namespace metaguard;
using metaguard::test::ThreadGatherer;

namespace {

constexpr int kWorld = 3;

// What each rank saw: its slices by name, and the message verify() threw ("" when none).
struct RankOutcome {
  std::map<std::string, torch::Tensor> slices;
  std::string error;
};

// Every rank of a micro model whose weights are all frozen reads its slices of `path` and
// verifies; one thread per rank.
std::vector<RankOutcome> read_on_every_rank(const std::string& path) {
  const GPTConfig config = load_gpt_config(test::source_path("fixtures/models/micro.json"));
  const CheckpointFile file = CheckpointFile::open(path);
  ThreadGatherer gatherer(kWorld);
  std::vector<RankOutcome> outcomes(kWorld);
  std::vector<std::thread> ranks;
  for (int r = 0; r < kWorld; ++r) {
    ranks.emplace_back([&, r] {
      ThreadGatherer::thread_rank() = r;
      GPT model = build_gpt(config, std::nullopt, BuildOptions{torch::kMeta});
      for (auto& parameter : model->parameters()) parameter.set_requires_grad(false);
      ModuleWalker walker(*model);
      ShardedTensors shards(walker, r, kWorld);
      SliceReader reader(file, shards);
      for (ShardedTensor& tensor : shards.tensors()) {
        for (const auto& entry : file.tensors()) {
          if (entry.name != tensor.name()) continue;
          if (reader.read(tensor, entry, torch::kCPU)) outcomes[r].slices[tensor.name()] = tensor.handle.clone();
        }
      }
      try {
        reader.verify(gatherer);
      } catch (const InputError& error) {
        outcomes[r].error = error.what();
      }
    });
  }
  for (auto& thread : ranks) thread.join();
  return outcomes;
}

// The whole tensor, read by the CRC-checked whole-record path.
torch::Tensor whole(const CheckpointFile& file, const CheckpointTensor& entry) {
  torch::Tensor out = torch::empty(entry.shape, torch::kFloat32);
  StorageReader(file).read(*entry.storage, 0, static_cast<uint64_t>(out.nbytes()), static_cast<char*>(out.data_ptr()));
  return out;
}

}  // namespace

TEST_CASE("slice reader: every rank reads its slices, and the ranks' CRC-32s combine to the records'", "[shard][load]") {
  const std::string path = test::source_path("fixtures/checkpoints/models/micro.pt");
  std::vector<RankOutcome> outcomes = read_on_every_rank(path);
  const CheckpointFile file = CheckpointFile::open(path);
  for (int r = 0; r < kWorld; ++r) {
    CAPTURE(r);
    CHECK(outcomes[r].error.empty());
    CHECK(outcomes[r].slices.size() == file.tensors().size());
  }
  // The slices, put together in rank order, are the file's tensors (3 ranks: uneven cuts).
  for (const auto& entry : file.tensors()) {
    CAPTURE(entry.name);
    std::vector<torch::Tensor> parts;
    for (int r = 0; r < kWorld; ++r) parts.push_back(outcomes[r].slices.at(entry.name));
    CHECK(parts[2].numel() < parts[0].numel());
    CHECK(torch::equal(torch::cat(parts), whole(file, entry).reshape(-1)));
  }
}

TEST_CASE("slice reader: a flipped bit in any rank's part fails the combined CRC-32 on every rank", "[shard][load]") {
  const std::string path = test::source_path("fixtures/checkpoints/models/micro.pt");
  const CheckpointFile file = CheckpointFile::open(path);
  const CheckpointTensor* head = nullptr;
  for (const auto& entry : file.tensors()) {
    if (entry.name == "lm_head.weight") head = &entry;
  }
  REQUIRE(head);
  const CheckpointStorage& storage = file.storages()[*head->storage];
  REQUIRE(storage.file_offset);
  const std::string bytes = test::slurp(path);
  test::ScratchDir dir;
  // A byte in the first, the middle and the last third of the record: rank 0's, 1's, 2's part.
  for (const uint64_t at : {uint64_t{5}, storage.stored_size / 2, storage.stored_size - 3}) {
    CAPTURE(at);
    std::string corrupt = bytes;
    corrupt[*storage.file_offset + at] ^= 0x10;
    const std::string bad = dir.write("bad.pt", corrupt);
    std::vector<RankOutcome> outcomes = read_on_every_rank(bad);
    for (int r = 0; r < kWorld; ++r) {
      CAPTURE(r);
      CHECK(outcomes[r].error == "'" + bad + "': storage record '" + storage.record +
                                     "' fails its CRC-32 check (the file is corrupt; its 3 ranks' parts combined)");
    }
  }
}

TEST_CASE("storage reader: a part's span is read and its CRC-32 returned; the range is checked", "[shard][load]") {
  const std::string path = test::source_path("fixtures/checkpoints/models/micro.pt");
  const CheckpointFile file = CheckpointFile::open(path);
  StorageReader reader(file);
  const CheckpointStorage& storage = file.storages().front();
  std::vector<char> part(16);
  // The whole record as one span: its CRC-32 is the one the zip stores.
  std::optional<uint32_t> crc = reader.read_part(0, 32, 48, part.data(), 0, storage.stored_size);
  REQUIRE(crc);
  CHECK(*crc == *storage.crc32);
  // A span that does not hold the part is refused, naming the file.
  const std::string message = test::input_error_of([&] { reader.read_part(0, 32, 48, part.data(), 40, 48); });
  CHECK(message.find("'" + path + "': bytes 32..48 asked of storage") == 0);
}
