// Memory per rank in LitGPT's terms (checks/memory_budget.hpp): --precision, sizes as people
// write them, and the finding for a rank that does not fit. Expected bytes are worked out by
// hand from the element counts below.
#include <catch2/catch.hpp>

#include "checks/memory_budget.hpp"

using namespace metaguard;

namespace {

TensorRecord record(const std::string& name, const std::string& dtype, int64_t numel, int64_t element, bool trainable,
                    uint64_t storage, const std::string& device = "cpu", TensorKind kind = TensorKind::Parameter) {
  TensorRecord t;
  t.name = name;
  t.kind = kind;
  t.dtype = dtype;
  t.numel = numel;
  t.nbytes = numel * element;
  t.device = device;
  t.requires_grad = kind == TensorKind::Parameter ? std::optional<bool>(trainable) : std::nullopt;
  t.storage_key = storage;
  return t;
}

// A frozen base weight (1000), a trainable adapter (10), the base weight again under a
// tied name, an int64 index buffer (5 elements, 40 bytes) and a tensor still on meta (100).
Inventory small_model() {
  return Inventory({record("base.weight", "float32", 1000, 4, false, 1), record("lora_A", "float32", 10, 4, true, 2),
                    record("head.weight", "float32", 1000, 4, false, 1),
                    record("lora_ind", "int64", 5, 8, false, 3, "cpu", TensorKind::NonpersistentBuffer),
                    record("cos", "float32", 100, 4, false, 0, "meta", TensorKind::NonpersistentBuffer)});
}

}  // namespace

TEST_CASE("memory budget: LitGPT's precision names, and nothing else", "[checks][memory]") {
  CHECK(parse_precision("bf16-true") == Precision::Bf16True);
  CHECK(parse_precision("32-true") == Precision::True32);
  CHECK(parse_precision("16-mixed") == Precision::Mixed16);
  CHECK_FALSE(parse_precision("bf16"));
  CHECK_FALSE(parse_precision(""));
  CHECK(precision_names().size() == 5);
  for (const auto& name : precision_names()) CHECK(to_string(*parse_precision(name)) == name);
}

TEST_CASE("memory budget: sizes as people write them", "[checks][memory]") {
  CHECK(parse_byte_size("80GiB") == int64_t{80} * 1024 * 1024 * 1024);
  CHECK(parse_byte_size("40GB") == int64_t{40'000'000'000});
  CHECK(parse_byte_size("512 MiB") == int64_t{512} * 1024 * 1024);
  CHECK(parse_byte_size("1.5gib") == int64_t{1610612736});
  CHECK(parse_byte_size("4096") == 4096);
  CHECK_FALSE(parse_byte_size(""));
  CHECK_FALSE(parse_byte_size("GiB"));
  CHECK_FALSE(parse_byte_size("80XB"));
  CHECK_FALSE(parse_byte_size("0"));
  CHECK_FALSE(parse_byte_size("1.2.3GB"));
  CHECK_FALSE(parse_byte_size("-5GB"));
}

TEST_CASE("memory budget: weights, gradients and AdamW state per precision, a tied storage once", "[checks][memory]") {
  // bf16-true: floating elements take 2 bytes: weights (1000 + 10) * 2 + 40, gradient 10 * 2,
  // AdamW's two moments 2 * 10 * 2.
  auto rows = memory_rows(3, small_model(), Precision::Bf16True);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].rank == 3);
  CHECK(rows[0].device == "cpu");
  CHECK(rows[0].weight_bytes == 2060);
  CHECK(rows[0].gradient_bytes == 20);
  CHECK(rows[0].optimizer_bytes == 40);
  CHECK(rows[0].total_bytes() == 2120);
  // 32-true and mixed precision keep float32: (1000 + 10) * 4 + 40, 40, 80.
  for (Precision precision : {Precision::True32, Precision::Bf16Mixed, Precision::Mixed16}) {
    auto full = memory_rows(0, small_model(), precision);
    REQUIRE(full.size() == 1);
    CHECK(full[0].weight_bytes == 4080);
    CHECK(full[0].gradient_bytes == 40);
    CHECK(full[0].optimizer_bytes == 80);
  }
  // --device cuda: the same figures, for the rank's GPU.
  auto gpu = memory_rows(1, small_model(), Precision::Bf16True, "cuda");
  REQUIRE(gpu.size() == 1);
  CHECK(gpu[0].device == "cuda");
  CHECK(gpu[0].total_bytes() == 2120);
}

TEST_CASE("memory budget: a rank that does not fit is an error naming it and the shortfall", "[checks][memory]") {
  std::vector<MemoryRow> rows = {{0, "cuda", int64_t{70} << 30, 0, 0}, {1, "cuda", int64_t{90} << 30, int64_t{1} << 30, int64_t{2} << 30}};
  auto findings = memory_budget_findings(rows, int64_t{80} << 30, "materialize");
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].code == "device-memory-exceeded");
  CHECK(findings[0].severity == Severity::Error);
  CHECK(findings[0].rank == 1);
  CHECK(findings[0].phase == "materialize");
  CHECK(findings[0].message ==
        "Training would hold 93.0 GiB on cuda on rank 1 (90.0 GiB weights, 1.0 GiB gradients, 2.0 GiB optimizer state) "
        "before any activation: 13.0 GiB more than the 80.0 GiB that --device-memory allows.");
  CHECK(memory_budget_findings(rows, int64_t{100} << 30, "materialize").empty());
}

TEST_CASE("memory budget, sharded: slices of the frozen weights, the largest block gathered, the rest whole",
          "[checks][memory][shard]") {
  // Over 4 ranks at 32-true: block 0 holds two frozen weights of 10 and 6 elements (slices
  // of 3 and 2, padded buffers of 12 and 8), the embedding 30 (slices of 8, buffer of 32),
  // an adapter of 4 trainable elements and an int64 buffer of 5 elements stay whole.
  Inventory inventory({record("transformer.h.0.attn.weight", "float32", 10, 4, false, 1),
                       record("transformer.h.0.mlp.weight", "float32", 6, 4, false, 2),
                       record("transformer.wte.weight", "float32", 30, 4, false, 3),
                       record("transformer.h.0.attn.lora_A", "float32", 4, 4, true, 4),
                       record("transformer.h.0.attn.lora_ind", "int64", 5, 8, false, 5, "cpu", TensorKind::NonpersistentBuffer)});
  ShardRow shard;
  MemoryRow row = sharded_memory_row(3, 4, inventory, Precision::True32, "cuda", shard);
  CHECK(row.rank == 3);
  CHECK(row.device == "cuda");
  // Rank 3's slices: attn [9, 10) of 3, mlp [6, 6) empty of 2, wte [24, 30) of 8.
  CHECK(shard.tensors == 3);
  CHECK(shard.elements == 1 + 0 + 6);
  CHECK(shard.bytes == (3 + 2 + 8) * 4);
  CHECK(shard.empty == std::vector<std::string>{"transformer.h.0.mlp.weight"});
  CHECK(row.weight_bytes == (3 + 2 + 8) * 4 + 4 * 4 + 5 * 8);
  CHECK(row.gathered_bytes == 32 * 4);  // the embedding's buffer (128) beats block 0's (12 + 8) * 4 = 80
  CHECK(row.gradient_bytes == 4 * 4);
  CHECK(row.optimizer_bytes == 2 * 4 * 4);
  CHECK(row.total_bytes() == row.weight_bytes + 32 * 4 + 16 + 32);

  auto findings = empty_shard_findings({shard}, 4, "materialize");
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].code == "empty-shard");
  CHECK(findings[0].severity == Severity::Warning);
  CHECK(findings[0].rank == 3);
  CHECK(*findings[0].tensor == "transformer.h.0.mlp.weight");
}
