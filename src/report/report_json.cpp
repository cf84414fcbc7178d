#include "report/report_json.hpp"

#include <cmath>

#include <fmt/format.h>

#include "core/errors.hpp"
#include "report/finding_groups.hpp"

namespace metaguard {

using nlohmann::json;

namespace {

json optional_json(const std::optional<std::string>& value) {
  return value ? json(*value) : json(nullptr);
}

json provenance_to_json(const ProvenanceEvent& event) {
  json out = {{"phase", event.phase}, {"event", event.event}, {"device", event.device}};
  if (!event.detail.empty()) out["detail"] = event.detail;
  return out;
}

// Reads fields with errors that name the document, the object and the field.
class FieldReader {
 public:
  FieldReader(const json& object, std::string where) : object_(object), where_(std::move(where)) {
    if (!object_.is_object()) fail("", "is not an object");
  }

  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw InputError(fmt::format("{}{}{}: {}", where_, field.empty() ? "" : ".", field, what));
  }

  const json& at(const std::string& field) const {
    auto it = object_.find(field);
    if (it == object_.end()) fail(field, "missing");
    return *it;
  }
  bool has(const std::string& field) const { return object_.contains(field); }

  std::string string(const std::string& field) const {
    const json& value = at(field);
    if (!value.is_string()) fail(field, "is not a string");
    return value.get<std::string>();
  }
  std::optional<std::string> optional_string(const std::string& field) const {
    if (!has(field) || at(field).is_null()) return std::nullopt;
    return string(field);
  }
  int64_t integer(const std::string& field) const {
    const json& value = at(field);
    if (!value.is_number_integer()) fail(field, "is not an integer");
    return value.get<int64_t>();
  }
  double number(const std::string& field) const {
    const json& value = at(field);
    if (!value.is_number()) fail(field, "is not a number");
    return value.get<double>();
  }
  bool boolean(const std::string& field) const {
    const json& value = at(field);
    if (!value.is_boolean()) fail(field, "is not a boolean");
    return value.get<bool>();
  }
  const json& array(const std::string& field) const {
    const json& value = at(field);
    if (!value.is_array()) fail(field, "is not an array");
    return value;
  }
  const std::string& where() const { return where_; }

 private:
  const json& object_;
  std::string where_;
};

TensorRecord tensor_from_json(const json& value, const std::string& where) {
  FieldReader in(value, where);
  TensorRecord tensor;
  tensor.name = in.string("name");
  auto kind = parse_tensor_kind(in.string("kind"));
  if (!kind) in.fail("kind", "unknown kind '" + in.string("kind") + "'");
  tensor.kind = *kind;
  tensor.dtype = in.string("dtype");
  for (const auto& dim : in.array("shape")) {
    if (!dim.is_number_integer()) in.fail("shape", "holds a non-integer");
    tensor.shape.push_back(dim.get<int64_t>());
  }
  tensor.device = in.string("device");
  tensor.numel = in.integer("numel");
  tensor.nbytes = in.integer("nbytes");
  tensor.storage = in.optional_string("storage");
  tensor.storage_offset = in.integer("storage_offset");
  tensor.contiguous = in.boolean("contiguous");
  if (!in.at("requires_grad").is_null()) tensor.requires_grad = in.boolean("requires_grad");
  const json& provenance = in.array("provenance");
  for (size_t i = 0; i < provenance.size(); ++i) {
    FieldReader event(provenance[i], fmt::format("{}.provenance[{}]", where, i));
    ProvenanceEvent parsed{event.string("phase"), event.string("event"), event.string("device"), ""};
    if (event.has("detail")) parsed.detail = event.string("detail");
    tensor.provenance.push_back(std::move(parsed));
  }
  if (in.has("rank")) tensor.rank = static_cast<int>(in.integer("rank"));
  if (in.has("uninitialized")) tensor.uninitialized = in.boolean("uninitialized");
  if (in.has("derived")) tensor.derived = in.boolean("derived");
  if (in.has("content_hash") && in.at("content_hash").is_string()) {
    tensor.content_hash = std::stoull(in.string("content_hash"), nullptr, 16);
  }
  return tensor;
}

Finding finding_from_json(const json& value, const std::string& where) {
  FieldReader in(value, where);
  Finding finding;
  finding.code = in.string("code");
  auto severity = parse_severity(in.string("severity"));
  if (!severity) in.fail("severity", "unknown severity '" + in.string("severity") + "'");
  finding.severity = *severity;
  finding.tensor = in.optional_string("tensor");
  if (!in.at("rank").is_null()) finding.rank = static_cast<int>(in.integer("rank"));
  finding.phase = in.optional_string("phase");
  finding.message = in.string("message");
  finding.hint = in.string("hint");
  finding.repaired = in.boolean("repaired");
  if (in.has("allowed")) finding.allowed = in.boolean("allowed");
  return finding;
}

}  // namespace

json tensor_to_json(const TensorRecord& tensor) {
  json provenance = json::array();
  for (const auto& event : tensor.provenance) provenance.push_back(provenance_to_json(event));
  json out = {
      {"name", tensor.name},
      {"kind", to_string(tensor.kind)},
      {"dtype", tensor.dtype},
      {"shape", tensor.shape},
      {"device", tensor.device},
      {"numel", tensor.numel},
      {"nbytes", tensor.nbytes},
      {"storage", optional_json(tensor.storage)},
      {"storage_offset", tensor.storage_offset},
      {"contiguous", tensor.contiguous},
      {"requires_grad", tensor.requires_grad ? json(*tensor.requires_grad) : json(nullptr)},
      {"provenance", std::move(provenance)},
  };
  // Additions to the schema (CONTRACT.md allows adding): only where they say something.
  if (tensor.rank) out["rank"] = *tensor.rank;
  if (tensor.uninitialized) out["uninitialized"] = true;
  if (tensor.derived) out["derived"] = true;
  if (tensor.content_hash) out["content_hash"] = fmt::format("{:016x}", *tensor.content_hash);
  return out;
}

json finding_to_json(const Finding& finding) {
  json out = {
      {"code", finding.code},
      {"severity", to_string(finding.severity)},
      {"tensor", optional_json(finding.tensor)},
      {"rank", finding.rank ? json(*finding.rank) : json(nullptr)},
      {"phase", optional_json(finding.phase)},
      {"message", finding.message},
      {"hint", finding.hint},
      {"repaired", finding.repaired},
  };
  if (finding.allowed) out["allowed"] = true;
  return out;
}

// The findings as problems (finding_groups.hpp): what the text report prints, with the
// indices of the findings each one stands for, so a script can go either way.
json groups_to_json(const Report& report) {
  json groups = json::array();
  for (const auto& group : group_findings(report.findings, report_world_size(report))) {
    const Finding& f = *group.first;
    json out = {
        {"code", f.code},
        {"severity", to_string(f.severity)},
        {"phase", optional_json(f.phase)},
        {"tensors", group.tensor_pattern.empty() ? json(nullptr) : json(group.tensor_pattern)},
        {"tensor_count", group.tensors.size()},
        {"ranks", group.ranks},
        {"ranks_text", group.ranks_text},
        {"count", group.size()},
        {"message", group.message},
        {"hint", f.hint},
        {"repaired", f.repaired},
        {"findings", group.members},
    };
    if (f.allowed) out["allowed"] = true;
    groups.push_back(std::move(out));
  }
  return groups;
}

json report_to_json(const Report& report, bool include_tensors) {
  json tensors = include_tensors ? json::array() : json(nullptr);
  if (include_tensors) {
    for (const auto& tensor : report.tensors) tensors.push_back(tensor_to_json(tensor));
  }
  json findings = json::array();
  for (const auto& finding : report.findings) findings.push_back(finding_to_json(finding));
  Summary summary = report.summary();
  json out = {
      {"schema", Report::kSchema},
      {"command", report.command},
      {"source", report.source},
      {"tensors", std::move(tensors)},
      {"findings", std::move(findings)},
      {"summary",
       {{"tensors", summary.tensors},
        {"meta", summary.meta},
        {"errors", summary.errors},
        {"warnings", summary.warnings},
        {"repaired", summary.repaired},
        {"allowed", summary.allowed},
        {"bytes_by_device", summary.bytes_by_device}}},
  };
  if (report.training) {
    const TrainingInfo& training = *report.training;
    json val_losses = json::array();
    for (const auto& val : training.val_losses) val_losses.push_back({{"step", val.step}, {"loss", val.loss}});
    json stopped = nullptr;
    if (training.stopped) {
      stopped = {{"phase", training.stopped->phase},
                 {"rank", training.stopped->rank ? json(*training.stopped->rank) : json(nullptr)},
                 {"reason", training.stopped->reason}};
    }
    out["training"] = {
        {"world_size", training.world_size},
        {"steps", training.steps},
        {"global_batch", training.global_batch},
        {"seq_len", training.seq_len},
        {"device", training.device},
        {"backend", training.backend},
        {"strategy", training.strategy},
        {"gather_seconds", training.gather_seconds},
        {"activation_checkpointing", training.activation_checkpointing},
        {"frozen_weights_hash", training.frozen_weights_hash.empty() ? json(nullptr) : json(training.frozen_weights_hash)},
        {"losses", training.losses},
        {"val_losses", std::move(val_losses)},
        {"final_loss", training.final_loss ? json(*training.final_loss) : json(nullptr)},
        {"tokens_per_s", training.tokens_per_s},
        {"stopped", std::move(stopped)},
    };
  }
  out["groups"] = groups_to_json(report);
  // The typed sections and the untyped ones, in one key order.
  json sections = report.extra;
  if (!report.memory.empty()) {
    json rows = json::array();
    for (const auto& row : report.memory) {
      rows.push_back({{"rank", row.rank},
                      {"device", row.device},
                      {"weight_bytes", row.weight_bytes},
                      {"gradient_bytes", row.gradient_bytes},
                      {"optimizer_bytes", row.optimizer_bytes},
                      {"total_bytes", row.total_bytes()}});
      // Only where a sharded run or an activation estimate has them (older reports lack them).
      if (row.gathered_bytes) rows.back()["gathered_bytes"] = row.gathered_bytes;
      if (row.activation_bytes) rows.back()["activation_bytes"] = row.activation_bytes;
    }
    sections["memory"] = std::move(rows);
  }
  if (!report.shards.empty()) {
    json rows = json::array();
    for (const auto& row : report.shards) {
      rows.push_back({{"rank", row.rank},
                      {"tensors", row.tensors},
                      {"elements", row.elements},
                      {"bytes", row.bytes},
                      {"empty", row.empty}});
    }
    sections["shards"] = std::move(rows);
  }
  if (report.parameters) {
    const ParameterCounts& p = *report.parameters;
    sections["parameters"] = {{"trainable_numel", p.trainable_numel},
                              {"frozen_numel", p.frozen_numel},
                              {"trainable_tensors", p.trainable_tensors},
                              {"frozen_tensors", p.frozen_tensors}};
  }
  for (const auto& [key, value] : sections.items()) {
    if (!out.contains(key)) out[key] = value;
  }
  return out;
}

Report report_from_json(const json& document, const std::string& origin) {
  FieldReader in(document, origin);
  if (in.string("schema") != Report::kSchema) {
    in.fail("schema", fmt::format("is '{}', expected '{}'", in.string("schema"), Report::kSchema));
  }
  Report report;
  report.command = in.string("command");
  report.source = in.string("source");
  const json& tensors = in.array("tensors");
  for (size_t i = 0; i < tensors.size(); ++i) {
    report.tensors.push_back(tensor_from_json(tensors[i], fmt::format("{}.tensors[{}]", origin, i)));
  }
  const json& findings = in.array("findings");
  for (size_t i = 0; i < findings.size(); ++i) {
    report.findings.push_back(finding_from_json(findings[i], fmt::format("{}.findings[{}]", origin, i)));
  }
  in.at("summary");  // recomputed from tensors and findings; must be present
  if (in.has("training") && !in.at("training").is_null()) {
    FieldReader t(in.at("training"), origin + ".training");
    TrainingInfo training;
    training.world_size = static_cast<int>(t.integer("world_size"));
    training.steps = t.integer("steps");
    training.global_batch = t.integer("global_batch");
    training.seq_len = t.integer("seq_len");
    if (t.has("device")) training.device = t.string("device");
    if (t.has("backend")) training.backend = t.string("backend");
    if (t.has("strategy")) training.strategy = t.string("strategy");
    if (t.has("gather_seconds")) training.gather_seconds = t.number("gather_seconds");
    if (t.has("activation_checkpointing")) training.activation_checkpointing = t.boolean("activation_checkpointing");
    if (t.has("frozen_weights_hash") && t.at("frozen_weights_hash").is_string()) {
      training.frozen_weights_hash = t.string("frozen_weights_hash");
    }
    // JSON has no NaN: a diverged loss is written as null and read back as NaN.
    for (const auto& loss : t.array("losses")) {
      if (!loss.is_number() && !loss.is_null()) t.fail("losses", "holds a non-number");
      training.losses.push_back(loss.is_null() ? std::nan("") : loss.get<double>());
    }
    for (const auto& val : t.array("val_losses")) {
      FieldReader v(val, origin + ".training.val_losses");
      training.val_losses.push_back({v.integer("step"), v.at("loss").is_null() ? std::nan("") : v.number("loss")});
    }
    if (!t.at("final_loss").is_null()) training.final_loss = t.number("final_loss");
    training.tokens_per_s = t.number("tokens_per_s");
    if (!t.at("stopped").is_null()) {
      FieldReader s(t.at("stopped"), origin + ".training.stopped");
      StopReason stop{s.string("phase"), std::nullopt, s.string("reason")};
      if (!s.at("rank").is_null()) stop.rank = static_cast<int>(s.integer("rank"));
      training.stopped = stop;
    }
    report.training = training;
  }
  if (in.has("memory")) {
    const json& rows = in.array("memory");
    for (size_t i = 0; i < rows.size(); ++i) {
      FieldReader r(rows[i], fmt::format("{}.memory[{}]", origin, i));
      MemoryRow row{static_cast<int>(r.integer("rank")), r.string("device"), r.integer("weight_bytes"),
                    r.integer("gradient_bytes"), r.integer("optimizer_bytes")};
      if (r.has("gathered_bytes")) row.gathered_bytes = r.integer("gathered_bytes");
      if (r.has("activation_bytes")) row.activation_bytes = r.integer("activation_bytes");
      report.memory.push_back(std::move(row));
    }
  }
  if (in.has("shards")) {
    const json& rows = in.array("shards");
    for (size_t i = 0; i < rows.size(); ++i) {
      FieldReader r(rows[i], fmt::format("{}.shards[{}]", origin, i));
      ShardRow row{static_cast<int>(r.integer("rank")), r.integer("tensors"), r.integer("elements"), r.integer("bytes"), {}};
      for (const auto& name : r.array("empty")) {
        if (!name.is_string()) r.fail("empty", "holds a non-string");
        row.empty.push_back(name.get<std::string>());
      }
      report.shards.push_back(std::move(row));
    }
  }
  if (in.has("parameters")) {
    FieldReader p(in.at("parameters"), origin + ".parameters");
    report.parameters = ParameterCounts{p.integer("trainable_numel"), p.integer("frozen_numel"),
                                        p.integer("trainable_tensors"), p.integer("frozen_tensors")};
  }
  // "groups" is derived from the findings and made anew when the report is written again.
  static const char* const kKnown[] = {"schema",   "command", "source", "tensors",    "findings",
                                       "summary",  "training", "groups", "memory", "parameters", "shards"};
  for (const auto& [key, value] : document.items()) {
    bool known = false;
    for (const char* name : kKnown) known = known || key == name;
    if (!known) report.extra[key] = value;
  }
  return report;
}

}  // namespace metaguard
