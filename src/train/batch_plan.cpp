#include "train/batch_plan.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/errors.hpp"
#include "core/hashing.hpp"

namespace metaguard {
namespace {

torch::Tensor tokens(const uint8_t* start, int64_t count) {
  torch::Tensor out = torch::empty({count}, torch::kInt64);
  int64_t* data = out.data_ptr<int64_t>();
  for (int64_t i = 0; i < count; ++i) data[i] = start[i];
  return out;
}

}  // namespace

BatchPlan::BatchPlan(uint64_t seed, int64_t global_batch, int world_size, int64_t micro_batch, int64_t seq_len)
    : seed_(seed), global_batch_(global_batch), seq_len_(seq_len) {
  if (global_batch < 1) throw InputError("--global-batch: must be at least 1");
  if (world_size < 1) throw InputError("--nproc: must be at least 1");
  if (global_batch % world_size != 0) {
    throw InputError(fmt::format("--global-batch {}: {} ranks cannot split it evenly (use a multiple of {})",
                                 global_batch, world_size, world_size));
  }
  per_rank_ = global_batch / world_size;
  micro_batch_ = micro_batch == 0 ? per_rank_ : micro_batch;
  if (micro_batch_ < 1 || per_rank_ % micro_batch_ != 0) {
    throw InputError(fmt::format("--micro-batch {}: must divide the {} sequences each of the {} ranks reads per step "
                                 "(--global-batch {} / {})",
                                 micro_batch, per_rank_, world_size, global_batch, world_size));
  }
}

int64_t BatchPlan::offset(int64_t step, int64_t j, int64_t train_size) const {
  const uint64_t positions = static_cast<uint64_t>(train_size - seq_len_);  // starts whose window fits
  const uint64_t draw = mix64(tensor_seed(seed_, "batch", static_cast<uint64_t>(step)) + static_cast<uint64_t>(j));
  return static_cast<int64_t>(draw % positions);
}

torch::Tensor BatchPlan::micro_batch_tokens(const ByteCorpus& corpus, int64_t step, int rank, int64_t micro) const {
  std::vector<torch::Tensor> rows;
  const int64_t first = rank * per_rank_ + micro * micro_batch_;
  for (int64_t j = first; j < first + micro_batch_; ++j) {
    rows.push_back(tokens(corpus.train_tokens(offset(step, j, corpus.train_size())), seq_len_ + 1));
  }
  return torch::stack(rows);  // (micro_batch, seq_len + 1)
}

ValidationPlan::ValidationPlan(const ByteCorpus& corpus, int64_t seq_len_, int64_t max_sequences) : seq_len(seq_len_) {
  sequences = std::min(max_sequences, (corpus.validation_size() - 1) / seq_len);
  sequences = std::max<int64_t>(sequences, 1);
}

torch::Tensor ValidationPlan::window(const ByteCorpus& corpus, int64_t k) const {
  return tokens(corpus.validation_tokens(k * seq_len), seq_len + 1).unsqueeze(0);
}

}  // namespace metaguard
