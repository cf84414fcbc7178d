#include <catch2/catch.hpp>

#include "explain/tensor_history.hpp"
#include "report_fixtures.hpp"

using namespace metaguard;
using metaguard::test::event;
using metaguard::test::tensor;

TEST_CASE("explain history: a derived buffer left on meta (lora-ind-meta)", "[explain][history]") {
  auto t = tensor("transformer.h.0.attn.attn.lora_ind", "meta", TensorKind::NonpersistentBuffer,
                  {event("init", "created", "meta")});
  HistoryContext context;
  context.checkpoint_loaded = true;
  CHECK(tensor_history(t, context) ==
        "created on meta at init; not in any checkpoint or broadcast (non-persistent buffer); "
        "never materialized or recomputed");
}

TEST_CASE("explain history: rank 1 never received the broadcast (skip-broadcast)", "[explain][history]") {
  auto t = tensor("transformer.wte.weight", "meta", TensorKind::Parameter, {event("init", "created", "meta")});
  HistoryContext context;
  context.rank = 1;
  CHECK(tensor_history(t, context) ==
        "created on meta at init; never materialized, received by broadcast or initialized");
}

TEST_CASE("explain history: storage handed out, never written (to-empty-no-init)", "[explain][history]") {
  auto t = tensor("transformer.h.0.mlp.fc.weight", "cpu", TensorKind::Parameter,
                  {event("init", "created", "meta"), event("materialize", "materialized-empty", "cpu", "to_empty")});
  t.uninitialized = true;
  HistoryContext context;
  context.checkpoint_loaded = true;
  context.broadcast_seen = true;
  CHECK(tensor_history(t, context) ==
        "created on meta at init; given uninitialized storage on cpu at materialize (to_empty); never loaded from "
        "the checkpoint, received by broadcast or initialized; its values are whatever the memory held");
}

TEST_CASE("explain history: a key the checkpoint lacks (partial-checkpoint)", "[explain][history]") {
  auto t = tensor("lm_head.weight", "meta", TensorKind::Parameter, {event("init", "created", "meta")});
  HistoryContext context;
  context.checkpoint_loaded = true;
  context.missing_from_checkpoint = true;
  CHECK(tensor_history(t, context) ==
        "created on meta at init; not in the checkpoint (missing key); never materialized or initialized");
}

TEST_CASE("explain history: a healthy tensor is only its events", "[explain][history]") {
  auto t = tensor("w", "cuda:0", TensorKind::Parameter,
                  {event("init", "created", "meta"), event("materialize", "materialized", "cpu"),
                   event("load", "loaded", "cpu"), event("before-transfer", "moved", "cuda:0"),
                   event("materialize", "untied", "cpu"), event("repair", "repaired", "cpu", "init recipe, seed 7"),
                   event("x", "teleported", "cpu")});
  CHECK(tensor_history(t, HistoryContext{}) ==
        "created on meta at init; materialized on cpu at materialize; loaded from the checkpoint at load; moved to "
        "cuda:0 at before-transfer; untied from the storage it shared at materialize; repaired on cpu at repair "
        "(init recipe, seed 7); teleported at x (on cpu)");
}

TEST_CASE("explain history: no ledger (a scanned checkpoint entry)", "[explain][history]") {
  auto t = tensor("model.w", "meta", TensorKind::CheckpointEntry);
  CHECK(tensor_history(t, HistoryContext{}) ==
        "no provenance recorded; now on meta; stored in the checkpoint without values");
}
