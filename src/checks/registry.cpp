#include "checks/registry.hpp"

#include "checks/lora_trainability_check.hpp"
#include "checks/meta_tensor_check.hpp"
#include "checks/mixed_devices_check.hpp"
#include "checks/optimizer_stale_reference_check.hpp"
#include "checks/rank_divergence_check.hpp"
#include "checks/stale_derived_buffer_check.hpp"
#include "checks/tied_weights_broken_check.hpp"
#include "checks/uninitialized_storage_check.hpp"

namespace metaguard {

const std::vector<std::unique_ptr<Check>>& all_checks() {
  static const std::vector<std::unique_ptr<Check>> checks = [] {
    std::vector<std::unique_ptr<Check>> list;
    list.push_back(std::make_unique<MetaParameterCheck>());
    list.push_back(std::make_unique<MetaBufferCheck>());
    list.push_back(std::make_unique<MetaNonpersistentBufferCheck>());
    list.push_back(std::make_unique<UninitializedStorageCheck>());
    list.push_back(std::make_unique<StaleDerivedBufferCheck>());
    list.push_back(std::make_unique<TiedWeightsBrokenCheck>());
    list.push_back(std::make_unique<MixedDevicesCheck>());
    list.push_back(std::make_unique<OptimizerStaleReferenceCheck>());
    list.push_back(std::make_unique<RankDivergenceCheck>());
    list.push_back(std::make_unique<LoraTrainabilityCheck>());
    return list;
  }();
  return checks;
}

const Check* find_check(std::string_view code) {
  for (const auto& check : all_checks()) {
    if (check->code() == code) return check.get();
  }
  return nullptr;
}

std::vector<Finding> run_checks(const CheckContext& context) {
  std::vector<Finding> findings;
  for (const auto& check : all_checks()) {
    const size_t first = findings.size();
    check->run(context, findings);
    for (size_t i = first; i < findings.size(); ++i) findings[i].repair = check->repair();
  }
  sort_findings(findings);
  return findings;
}

}  // namespace metaguard
