#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor_kind.hpp"

namespace metaguard {

// One step in a tensor's history, e.g. {"init", "created", "meta"}.
struct ProvenanceEvent {
  std::string phase;
  std::string event;
  std::string device;
  std::string detail;  // optional free text ("by init recipe, seed 42")

  bool operator==(const ProvenanceEvent& other) const {
    return phase == other.phase && event == other.event && device == other.device &&
           detail == other.detail;
  }
};

// One tensor as metaguard sees it: plain data, no torch. Built from a live module
// (walk/), a checkpoint (checkpoint/) or a report file.
struct TensorRecord {
  std::string name;  // fully qualified, '.'-joined
  TensorKind kind = TensorKind::Parameter;
  std::string dtype = "float32";  // PyTorch's name
  std::vector<int64_t> shape;
  std::string device = "cpu";  // "meta", "cpu", "cuda:0"
  int64_t numel = 0;
  int64_t nbytes = 0;  // numel * element size, also for meta tensors
  std::optional<std::string> storage;  // "s3": equal ids share one storage
  int64_t storage_offset = 0;
  bool contiguous = true;
  std::optional<bool> requires_grad;
  std::vector<ProvenanceEvent> provenance;
  std::optional<int> rank;  // which rank's tensor, in multi-rank reports (an addition to the schema)

  // Beyond the report's fixed fields: what the walker knows that checks need.
  bool uninitialized = false;     // storage handed out by materialization, never written since
  bool derived = false;           // declared derived: recomputed from a recipe, never loaded
  std::optional<bool> derived_current;  // recipe recomputed and compared (when asked)
  std::optional<uint64_t> content_hash;  // of the bytes (when asked), for cross-rank checks
  uint64_t tensor_key = 0;        // identity of the tensor object within one process (0: none)
  uint64_t storage_key = 0;       // identity of the storage within one process (0: none)
  uint32_t version = 0;           // in-place write counter (torch's _version)

  bool is_meta() const { return device == "meta"; }
  // The owning module's qualified path: the name up to its last '.' ("" for the root's own).
  std::string module_path() const {
    auto dot = name.find_last_of('.');
    return dot == std::string::npos ? "" : name.substr(0, dot);
  }
  // True when the tensor holds usable values: not meta, not uninitialized.
  bool has_data() const { return !is_meta() && !uninitialized; }
};

// Size in bytes of one element of a PyTorch dtype name; 0 for an unknown name.
int64_t element_size(std::string_view dtype);

}  // namespace metaguard
