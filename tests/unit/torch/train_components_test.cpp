// The trainer's parts one by one: byte corpus, batch plan, learning-rate schedule,
// float64 gradient buckets, run state and run checkpoints.
#include <catch2/catch.hpp>
#include <rapidcheck/catch.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "core/errors.hpp"
#include "model/gpt.hpp"
#include "support/paths.hpp"
#include "train/batch_plan.hpp"
#include "train/byte_corpus.hpp"
#include "train/communicator.hpp"
#include "train/gradient_buckets.hpp"
#include "train/dist_env.hpp"
#include "train/lr_schedule.hpp"
#include "train/rank_placement.hpp"
#include "train/run_checkpoint.hpp"
#include "train/run_state.hpp"

using namespace metaguard;
namespace fs = std::filesystem;

namespace {

struct ScratchDir {
  ScratchDir() {
    char pattern[] = "/tmp/metaguard-train-unit-XXXXXX";
    path = ::mkdtemp(pattern);
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string file(const std::string& name, const std::string& text) const {
    std::ofstream(path + "/" + name, std::ios::binary) << text;
    return path + "/" + name;
  }
  std::string path;
};

std::string text_of(size_t size) {
  std::string text;
  for (size_t i = 0; i < size; ++i) text.push_back(static_cast<char>('a' + (i * 7 + i / 13) % 26));
  return text;
}

}  // namespace

TEST_CASE("train corpus: bytes are tokens; train and validation parts each hold a sequence", "[train][unit]") {
  ScratchDir dir;
  ByteCorpus corpus = ByteCorpus::load(dir.file("c.txt", text_of(1000)), 32);
  CHECK(corpus.size() == 1000);
  CHECK(corpus.validation_size() == 100);  // the last 10%
  CHECK(corpus.train_size() == 900);
  CHECK(corpus.train_tokens(0)[0] == 'a');
  // Small files still give validation one whole sequence.
  ByteCorpus small = ByteCorpus::load(dir.file("s.txt", text_of(80)), 32);
  CHECK(small.validation_size() == 33);
  CHECK(small.train_size() == 47);
  CHECK(ByteCorpus::load(dir.file("d.txt", text_of(999) + "!"), 32).fingerprint() != corpus.fingerprint());

  CHECK_THROWS_WITH(ByteCorpus::load(dir.path + "/absent.txt", 32), Catch::Contains("absent.txt': cannot read it"));
  CHECK_THROWS_WITH(ByteCorpus::load(dir.file("e.txt", ""), 32), Catch::Contains("the file is empty"));
  CHECK_THROWS_WITH(ByteCorpus::load(dir.file("t.txt", text_of(65)), 32), Catch::Contains("shorter than one training"));
  CHECK_NOTHROW(ByteCorpus::load(dir.file("u.txt", text_of(66)), 32));
  CHECK_THROWS_AS(ByteCorpus::load(dir.path, 32), InputError);
}

TEST_CASE("train batch plan: what a step reads depends on seed and step, never on the number of ranks", "[train][unit]") {
  ScratchDir dir;
  ByteCorpus corpus = ByteCorpus::load(dir.file("c.txt", text_of(5000)), 16);
  rc::prop("the ranks' micro-batches, in rank order, are the one-rank batch", [&] {
    const int world = *rc::gen::element(1, 2, 4);
    const int64_t per_rank = *rc::gen::inRange<int64_t>(1, 5);
    const int64_t global = per_rank * world;
    std::vector<int64_t> divisors;
    for (int64_t d = 1; d <= per_rank; ++d) {
      if (per_rank % d == 0) divisors.push_back(d);
    }
    const int64_t micro = *rc::gen::elementOf(divisors);
    const int64_t step = *rc::gen::inRange<int64_t>(0, 1000);
    const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
    BatchPlan one(seed, global, 1, global, 16);
    BatchPlan many(seed, global, world, micro, 16);
    torch::Tensor expected = one.micro_batch_tokens(corpus, step, 0, 0);
    std::vector<torch::Tensor> parts;
    for (int r = 0; r < world; ++r) {
      for (int64_t m = 0; m < many.micro_steps(); ++m) parts.push_back(many.micro_batch_tokens(corpus, step, r, m));
    }
    RC_ASSERT(torch::equal(torch::cat(parts), expected));
    RC_ASSERT(expected.size(0) == global);
    RC_ASSERT(expected.size(1) == 17);
    for (int64_t j = 0; j < global; ++j) {
      const int64_t offset = one.offset(step, j, corpus.train_size());
      RC_ASSERT(offset >= 0);
      RC_ASSERT(offset + 17 <= corpus.train_size());
    }
  });
  BatchPlan plan(7, 8, 2, 0, 16);
  CHECK(plan.micro_batch() == 4);  // the default: the whole per-rank share
  CHECK(plan.micro_steps() == 1);
  // Different steps read different sequences.
  CHECK_FALSE(torch::equal(plan.micro_batch_tokens(corpus, 0, 0, 0), plan.micro_batch_tokens(corpus, 1, 0, 0)));
  CHECK_THROWS_WITH(BatchPlan(7, 6, 4, 0, 16), Catch::Contains("--global-batch 6: 4 ranks cannot split it"));
  CHECK_THROWS_WITH(BatchPlan(7, 8, 2, 3, 16), Catch::Contains("--micro-batch 3: must divide the 4 sequences"));
  CHECK_THROWS_AS(BatchPlan(7, 0, 1, 0, 16), InputError);
  ValidationPlan validation(corpus, 16, 1000);
  CHECK(validation.sequences == (corpus.validation_size() - 1) / 16);
  CHECK(validation.window(corpus, validation.sequences - 1).size(1) == 17);
}

TEST_CASE("train lr schedule: linear warmup to the peak, then cosine down to the floor", "[train][unit]") {
  rc::prop("bounded, rising in warmup, falling after, floor at the last step", [] {
    const int64_t total = *rc::gen::inRange<int64_t>(1, 500);
    const int64_t warmup = *rc::gen::inRange<int64_t>(0, total);
    const double peak = *rc::gen::element(1e-4, 3e-3, 1.0);
    LrSchedule schedule(peak, warmup, total, 0.1);
    double previous = 0;
    for (int64_t step = 0; step < total; ++step) {
      const double lr = schedule.at(step);
      RC_ASSERT(lr > 0);
      RC_ASSERT(lr <= peak * (1 + 1e-12));
      if (step < warmup) RC_ASSERT(lr > previous);
      if (step > warmup) RC_ASSERT(lr <= previous * (1 + 1e-12));
      previous = lr;
    }
    if (warmup > 0) RC_ASSERT(std::abs(schedule.at(warmup - 1) - peak) < 1e-12 * peak);
    if (total - warmup >= 2) RC_ASSERT(std::abs(schedule.at(total - 1) - 0.1 * peak) < 1e-9 * peak);
  });
}

TEST_CASE("train gradient buckets: sums do not depend on how micro-batches are grouped", "[train][unit]") {
  rc::prop("one accumulator over all micro-batches equals the sum of per-rank accumulators, bit for bit", [] {
    const int64_t micro_batches = *rc::gen::inRange<int64_t>(2, 7);
    const int64_t split = *rc::gen::inRange<int64_t>(1, micro_batches);
    const int64_t bucket_elements = *rc::gen::element<int64_t>(3, 10, int64_t(1) << 20);
    torch::manual_seed(*rc::gen::inRange<uint64_t>(0, 1000000));
    // float64 parameters let write_gradients hand back the float64 sums exactly; the
    // gradients themselves are float32 values, as in training.
    std::vector<std::vector<int64_t>> shapes{{3, 4}, {5}, {2, 2, 2}};
    std::vector<torch::Tensor> parameters;
    for (auto& shape : shapes) parameters.push_back(torch::zeros(shape, torch::dtype(torch::kFloat64).requires_grad(true)));
    std::vector<std::vector<torch::Tensor>> grads(static_cast<size_t>(micro_batches));
    for (auto& set : grads) {
      for (auto& p : parameters) set.push_back((torch::randn(p.sizes()) * 3).to(torch::kFloat64));
    }
    auto sums = [&](int64_t first, int64_t last) {
      GradientBuckets buckets(parameters, 1, bucket_elements);
      buckets.zero();
      for (int64_t m = first; m < last; ++m) {
        for (size_t i = 0; i < parameters.size(); ++i) parameters[i].mutable_grad() = grads[m][i].clone();
        buckets.accumulate();
        buckets.extra(0) += 1;
      }
      RC_ASSERT(buckets.extra(0) == static_cast<double>(last - first));
      RC_ASSERT(buckets.elements() == 12 + 5 + 8);
      if (bucket_elements == 3) RC_ASSERT(buckets.bucket_count() == 3);
      buckets.write_gradients(1.0);
      std::vector<torch::Tensor> out;
      for (auto& p : parameters) out.push_back(p.grad().clone());
      return std::make_pair(out, buckets.norm());
    };
    auto [all, norm] = sums(0, micro_batches);
    auto [left, left_norm] = sums(0, split);
    auto [right, right_norm] = sums(split, micro_batches);
    double squares = 0;
    for (size_t i = 0; i < parameters.size(); ++i) {
      // What the all-reduce does with two ranks' sums.
      RC_ASSERT(torch::equal(all[i], left[i] + right[i]));
      squares += all[i].square().sum().item<double>();
    }
    RC_ASSERT(std::abs(norm - std::sqrt(squares)) <= 1e-12 * std::sqrt(squares));
  });

  // Through a communicator of one rank, all_reduce is the identity and scaling applies.
  torch::Tensor p = torch::zeros({4}, torch::requires_grad());
  GradientBuckets buckets({p}, 2);
  buckets.zero();
  p.mutable_grad() = torch::tensor({1.f, 2.f, 3.f, 4.f});
  buckets.accumulate();
  CHECK_FALSE(p.grad().defined());  // handed over
  p.mutable_grad() = torch::tensor({1.f, 1.f, 1.f, 1.f});
  buckets.accumulate();
  buckets.extra(1) = 5;
  Communicator single;
  buckets.all_reduce(single, 0);
  CHECK(buckets.extra(1) == 5);
  CHECK(buckets.norm() == Approx(std::sqrt(4.0 + 9 + 16 + 25)));
  buckets.write_gradients(0.5);
  CHECK(torch::equal(p.grad(), torch::tensor({1.f, 1.5f, 2.f, 2.5f})));
}

TEST_CASE("train run state: run.json round trip and refusals", "[train][unit]") {
  RunState state;
  state.model = "micro";
  state.config = {{"name", "micro"}, {"n_layer", 2}};
  state.lora = "r=8,alpha=16,dropout=0,targets=query+value";
  state.seed = 18446744073709551615ull;
  state.global_batch = 8;
  state.seq_len = 32;
  state.data = "corpus.txt";
  state.data_fingerprint = 0xfeedfacecafebeefull;
  state.step = 12;
  state.world_size = 2;
  state.weights = "checkpoints/step-000012/lora.pt";
  state.optimizer = "checkpoints/step-000012/optimizer.pt";
  state.losses = {5.5, std::nan(""), 4.25};
  state.val_losses = {{0, 5.6}, {10, 4.5}};
  RunState back = RunState::from_json(nlohmann::json::parse(state.to_json().dump()), "run.json");
  CHECK(back.seed == state.seed);
  CHECK(back.data_fingerprint == state.data_fingerprint);
  CHECK(back.config == state.config);
  CHECK(back.step == 12);
  REQUIRE(back.losses.size() == 3);
  CHECK(std::isnan(back.losses[1]));
  CHECK(back.val_losses.size() == 2);
  CHECK(back.val_losses[1].step == 10);

  nlohmann::json bad = state.to_json();
  bad["weights"] = "../../etc/passwd";
  CHECK_THROWS_WITH(RunState::from_json(bad, "x/run.json"), Catch::Contains("must be relative"));
  bad = state.to_json();
  bad.erase("step");
  CHECK_THROWS_WITH(RunState::from_json(bad, "x/run.json"), Catch::Contains("field 'step' is missing"));
  bad = state.to_json();
  bad["schema"] = "something/else";
  CHECK_THROWS_WITH(RunState::from_json(bad, "x/run.json"), Catch::Contains("not a metaguard run file"));
}

TEST_CASE("train run checkpoint: save, read back in place, and resume the optimizer exactly", "[train][unit]") {
  ScratchDir dir;
  GPTConfig config = load_gpt_config(test::source_path("fixtures/models/micro.json"));
  auto lora = parse_lora_spec("r=4,alpha=8,targets=query+value");
  auto make_session = [&](uint64_t seed) {
    GPT model = build_gpt(config, lora, BuildOptions{torch::kCPU, torch::kFloat32, seed});
    model->mark_only_lora_trainable();
    return std::make_unique<RankSession>(0, model, false, GuardConfig{});
  };
  auto trainable = [](RankSession& session) {
    NamedTensors out;
    session.walker().snapshot();
    for (const auto& live : session.walker().tensors()) {
      if (live.kind == TensorKind::Parameter && live.tensor.requires_grad()) out.emplace_back(live.name, live.tensor);
    }
    return out;
  };
  auto step_once = [](torch::optim::AdamW& optimizer, const NamedTensors& parameters, int salt) {
    for (const auto& [name, p] : parameters) p.mutable_grad() = torch::full(p.sizes(), 0.01f * static_cast<float>(salt));
    optimizer.step();
  };

  auto original = make_session(1);
  NamedTensors params = trainable(*original);
  std::vector<torch::Tensor> list;
  for (auto& [name, p] : params) list.push_back(p);
  torch::optim::AdamW optimizer(list, torch::optim::AdamWOptions(1e-2));
  step_once(optimizer, params, 1);
  step_once(optimizer, params, 2);
  NamedTensors adapters;
  for (auto& [name, p] : params) adapters.emplace_back(name, p);
  RunState state;
  state.model = "micro";
  state.config = gpt_config_to_json(config);
  state.step = 2;
  RunCheckpoint::save(dir.path, state, adapters, optimizer, params);
  RunState read = RunCheckpoint::read(dir.path);
  CHECK(read.step == 2);
  CHECK(read.weights == "checkpoints/step-000002/lora.pt");

  // A model with other adapter values takes the saved ones, in place.
  auto restored = make_session(2);
  NamedTensors restored_params = trainable(*restored);
  std::vector<const c10::TensorImpl*> identities;
  for (auto& [name, p] : restored_params) identities.push_back(p.unsafeGetTensorImpl());
  auto loaded = RunCheckpoint::load_weights(dir.path, read, *restored, torch::kCPU);
  CHECK(loaded.loaded.size() == params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    CAPTURE(params[i].first);
    CHECK(torch::equal(params[i].second, restored_params[i].second));
    CHECK(restored_params[i].second.unsafeGetTensorImpl() == identities[i]);
    auto tracked = restored->tracker().state_of(restored_params[i].second);
    REQUIRE(tracked);
    CHECK(tracked->written_by == LedgerEvent::Loaded);
  }
  restored->guard().record("load");
  bool noted = false;
  for (const auto& event : restored->ledger().history(params[0].first)) noted = noted || event.event == "loaded";
  CHECK(noted);

  // The optimizer continues as the original does.
  std::vector<torch::Tensor> restored_list;
  for (auto& [name, p] : restored_params) restored_list.push_back(p);
  torch::optim::AdamW resumed(restored_list, torch::optim::AdamWOptions(1e-2));
  RunCheckpoint::load_optimizer(dir.path, read, resumed, restored_params);
  step_once(optimizer, params, 3);
  step_once(resumed, restored_params, 3);
  for (size_t i = 0; i < params.size(); ++i) CHECK(torch::equal(params[i].second, restored_params[i].second));

  // A later save replaces the step folder; run.json names the new one.
  state.step = 3;
  RunCheckpoint::save(dir.path, state, adapters, optimizer, params);
  CHECK(fs::exists(dir.path + "/checkpoints/step-000003/lora.pt"));
  CHECK_FALSE(fs::exists(dir.path + "/checkpoints/step-000002"));
  CHECK(RunCheckpoint::read(dir.path).step == 3);

  CHECK_THROWS_WITH(RunCheckpoint::read(dir.path + "/checkpoints"), Catch::Contains("holds no run.json"));
  ScratchDir other;
  other.file("run.json", "{not json");
  CHECK_THROWS_WITH(RunCheckpoint::read(other.path), Catch::Contains("not valid JSON"));
}

TEST_CASE("train placement: auto picks the CPU and Gloo without a GPU, and every impossible choice names its flag",
          "[train][placement]") {
  if (torch::cuda::device_count() > 0) {
    WARN("skipped: this machine has a GPU (the GPU choices are checked by scripts/device-check.sh)");
    return;
  }
  RunPlacement automatic = RunPlacement::resolve("auto", "auto", 2);
  CHECK(automatic.device == ComputeDevice::Cpu);
  CHECK(automatic.backend == CollectiveBackendKind::Gloo);
  CHECK(automatic.rank_device(1) == torch::Device(torch::kCPU));
  CHECK(automatic.transport_device(1) == torch::Device(torch::kCPU));
  CHECK(automatic.describe() == "cpu, gloo");

  CHECK_THROWS_WITH(RunPlacement::resolve("cuda", "auto", 1), Catch::Contains("--device cuda: LibTorch sees no CUDA device"));
  CHECK_THROWS_WITH(RunPlacement::resolve("gpu", "auto", 1), Catch::Contains("--device 'gpu': expected cpu, cuda or auto"));
  CHECK_THROWS_WITH(RunPlacement::resolve("cpu", "mpi", 1), Catch::Contains("--backend 'mpi': expected gloo, nccl or auto"));
  CHECK_THROWS_WITH(RunPlacement::resolve("cpu", "nccl", 1),
                    Catch::Contains(nccl_compiled_in() ? "NCCL moves CUDA tensors only" : "built without NCCL"));
  CHECK_THROWS_AS(RunPlacement::resolve("cpu", "nccl", 1), InputError);
}

TEST_CASE("train placement: torchrun's agent-store variables are read, malformed ones refused naming the variable",
          "[train][placement]") {
  auto with = [](std::vector<std::pair<const char*, const char*>> vars, auto body) {
    for (auto& [name, value] : vars) setenv(name, value, 1);
    body();
    for (auto& [name, value] : vars) unsetenv(name);
  };
  with({{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"}, {"TORCHELASTIC_RUN_ID", "job-3"},
        {"TORCHELASTIC_RESTART_COUNT", "2"}},
       [] {
         auto env = DistEnv::from_environment();
         REQUIRE(env);
         CHECK(env->agent_store);
         CHECK(env->run_id == "job-3");
         CHECK(env->restart_count == 2);
       });
  with({{"RANK", "0"}, {"WORLD_SIZE", "2"}}, [] {
    auto env = DistEnv::from_environment();
    REQUIRE(env);
    CHECK_FALSE(env->agent_store);  // metaguard's launcher, Slurm: rank 0 hosts the store
    CHECK(env->restart_count == 0);
  });
  with({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"TORCHELASTIC_RESTART_COUNT", "x"}},
       [] { CHECK_THROWS_WITH(DistEnv::from_environment(), Catch::Contains("TORCHELASTIC_RESTART_COUNT")); });
}
