#include <algorithm>

#include <catch2/catch.hpp>

#include "ledger/ledger.hpp"
#include "support/records.hpp"

using namespace metaguard;
using metaguard::test::record;

namespace {

std::vector<std::string> events_of(const Ledger& ledger, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& event : ledger.history(name)) out.push_back(event.phase + ":" + event.event);
  return out;
}

}  // namespace

TEST_CASE("ledger turns snapshots into provenance events", "[ledger]") {
  auto weight = record("w", TensorKind::Parameter, "meta");
  auto index = record("lora_ind", TensorKind::NonpersistentBuffer, "meta");
  index.derived = true;
  Ledger ledger;
  ledger.record("init", Inventory({weight, index}));

  auto weight_cpu = weight;
  weight_cpu.device = "cpu";
  ledger.note("w", LedgerEvent::Received, "from rank 0");
  ledger.record("broadcast", Inventory({weight_cpu, index}));

  auto weight_cuda = weight_cpu;
  weight_cuda.device = "cuda:0";
  ledger.record("before-transfer", Inventory({weight_cuda, index}));

  CHECK(events_of(ledger, "w") ==
        std::vector<std::string>{"init:created", "broadcast:materialized", "broadcast:received",
                                 "before-transfer:moved"});
  CHECK(events_of(ledger, "lora_ind") == std::vector<std::string>{"init:created"});
  std::string cause = ledger.cause(index);
  CHECK(cause.find("created on meta at init") != std::string::npos);
  CHECK(cause.find("never recomputed") != std::string::npos);
}

TEST_CASE("ledger sees empty materialization, replacement and untying", "[ledger]") {
  auto a = record("wte", TensorKind::Parameter, "meta", 5);
  auto b = record("head", TensorKind::Parameter, "meta", 5);
  Ledger ledger;
  ledger.record("init", Inventory({a, b}));
  REQUIRE(ledger.initial_ties().size() == 1);

  auto a2 = a;
  a2.device = "cpu";
  a2.uninitialized = true;
  a2.storage_key = 6;
  auto b2 = b;
  b2.device = "cpu";
  b2.storage_key = 7;
  b2.tensor_key = 99999;
  ledger.record("materialize", Inventory({a2, b2}));
  CHECK(events_of(ledger, "wte") == std::vector<std::string>{"init:created", "materialize:materialized-empty"});
  auto head_events = events_of(ledger, "head");
  CHECK(std::count(head_events.begin(), head_events.end(), "materialize:replaced") == 1);
  CHECK(std::count(head_events.begin(), head_events.end(), "materialize:untied") == 1);
  CHECK(ledger.cause(a2).find("never initialized, loaded or received") != std::string::npos);
}

TEST_CASE("ledger annotate copies history into records", "[ledger]") {
  Ledger ledger;
  auto w = record("w", TensorKind::Parameter, "meta");
  ledger.record("init", Inventory({w}));
  std::vector<TensorRecord> tensors{w};
  ledger.annotate(tensors);
  REQUIRE(tensors[0].provenance.size() == 1);
  CHECK(tensors[0].provenance[0].event == "created");
  CHECK(tensors[0].provenance[0].device == "meta");
}
