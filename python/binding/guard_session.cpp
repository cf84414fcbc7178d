#include "guard_session.hpp"

#include <stdexcept>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "checks/registry.hpp"
#include "core/errors.hpp"

namespace metaguard::python {
namespace {

DataNeeds needs_at(const PhaseInfo& phase) {
  return {phase.parameters_hold_data, phase.buffers_hold_data, phase.nonpersistent_hold_data};
}

bool same_problem(const Finding& a, const Finding& b) {
  return a.code == b.code && a.tensor == b.tensor && a.rank == b.rank;
}

}  // namespace

Report GuardSession::check(PythonWalk walk, const CheckRequest& request) {
  const std::string phase(request.phase.name);
  // An optimizer's tensor the model no longer holds was, most likely, the one that had its
  // identity at the previous check (to_empty() replaces parameters from meta).
  std::optional<std::vector<OptimizerEntry>> optimizer = request.optimizer;
  if (optimizer && !ledger_.empty()) {
    std::unordered_map<uint64_t, std::string> earlier;
    for (const auto& tensor : ledger_.latest().tensors()) earlier.emplace(tensor.tensor_key, tensor.name);
    for (auto& entry : *optimizer) {
      auto it = earlier.find(entry.tensor_key);
      if (it != earlier.end()) entry.expected_name = it->second;
    }
  }
  ledger_.record(phase, std::move(walk.inventory));
  const Inventory& current = ledger_.latest();

  Report report;
  report.command = "check";
  report.source = walk.root_type;
  if (request.ranks.empty()) {
    CheckContext context(current, phase, request.rank, needs_at(request.phase));
    context.ledger = &ledger_;
    if (optimizer) context.optimizer = &*optimizer;
    report.findings = run_checks(context);
  } else {
    std::vector<const Inventory*> ranks;
    for (const auto& inventory : request.ranks) ranks.push_back(&inventory);
    for (size_t r = 0; r < ranks.size(); ++r) {
      const bool own = request.rank && static_cast<size_t>(*request.rank) == r;
      CheckContext context(own ? current : *ranks[r], phase, static_cast<int>(r), needs_at(request.phase));
      context.ledger = own ? &ledger_ : nullptr;
      context.ranks = &ranks;
      if (own && optimizer) context.optimizer = &*optimizer;
      for (auto& finding : run_checks(context)) report.findings.push_back(std::move(finding));
    }
    sort_findings(report.findings);
  }
  apply_allow_globs(report.findings, request.allow);
  report.tensors = current.tensors();
  ledger_.annotate(report.tensors);
  if (request.rank) {
    for (auto& tensor : report.tensors) tensor.rank = request.rank;
  }
  return report;
}

void GuardSession::note(const std::string& tensor, const std::string& event, const std::string& detail) {
  // The Python side names events as reports do; an unknown name is a programming error there.
  const auto known = parse_ledger_event(event);
  if (!known) throw std::invalid_argument("unknown ledger event '" + event + "'");
  ledger_.note(tensor, *known, detail);
}

std::string rank_digest(const Inventory& inventory) {
  // Only what the checks read: state, shape, kind, derived-ness and the content hash.
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& t : inventory.tensors()) {
    rows.push_back({t.name, std::string(to_string(t.kind)), t.dtype, t.shape, t.device, t.numel, t.nbytes,
                    t.content_hash ? nlohmann::json(*t.content_hash) : nlohmann::json(), t.derived,
                    t.derived_current ? nlohmann::json(*t.derived_current) : nlohmann::json(),
                    t.requires_grad ? nlohmann::json(*t.requires_grad) : nlohmann::json()});
  }
  return rows.dump();
}

Inventory inventory_from_digest(const std::string& digest, int rank) {
  // Digests come from our own ranks through the process group, never from a file; a
  // malformed one means the ranks run different metaguard builds.
  nlohmann::json rows = nlohmann::json::parse(digest, nullptr, false);
  if (!rows.is_array()) throw InputError("rank " + std::to_string(rank) + " sent an unreadable digest");
  Inventory inventory;
  try {
    for (const auto& row : rows) {
      TensorRecord t;
      t.name = row.at(0).get<std::string>();
      t.kind = parse_tensor_kind(row.at(1).get<std::string>()).value_or(TensorKind::Parameter);
      t.dtype = row.at(2).get<std::string>();
      t.shape = row.at(3).get<std::vector<int64_t>>();
      t.device = row.at(4).get<std::string>();
      t.numel = row.at(5).get<int64_t>();
      t.nbytes = row.at(6).get<int64_t>();
      if (!row.at(7).is_null()) t.content_hash = row.at(7).get<uint64_t>();
      t.derived = row.at(8).get<bool>();
      if (!row.at(9).is_null()) t.derived_current = row.at(9).get<bool>();
      if (!row.at(10).is_null()) t.requires_grad = row.at(10).get<bool>();
      t.rank = rank;
      inventory.add(std::move(t));
    }
  } catch (const nlohmann::json::exception&) {
    throw InputError("rank " + std::to_string(rank) + " sent a digest of another form");
  }
  return inventory;
}

Report merge_after_repair(Report first, const Report& after) {
  for (auto& finding : first.findings) {
    if (finding.severity != Severity::Error || finding.allowed || finding.repaired) continue;
    bool remains = false;
    for (const auto& later : after.findings) remains = remains || same_problem(finding, later);
    finding.repaired = !remains;
  }
  for (const auto& later : after.findings) {
    bool known = false;
    for (const auto& finding : first.findings) known = known || same_problem(finding, later);
    if (!known) first.findings.push_back(later);
  }
  sort_findings(first.findings);
  first.tensors = after.tensors;
  return first;
}

}  // namespace metaguard::python
