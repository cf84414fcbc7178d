#pragma once
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/tensor_record.hpp"

namespace metaguard {

// Every tensor of one model (or checkpoint) at one moment, in walk order.
class Inventory {
 public:
  Inventory() = default;
  explicit Inventory(std::vector<TensorRecord> tensors) : tensors_(std::move(tensors)) {}

  const std::vector<TensorRecord>& tensors() const { return tensors_; }
  std::vector<TensorRecord>& mutable_tensors() {
    index_.clear();
    return tensors_;
  }
  void add(TensorRecord record) {
    index_.clear();
    tensors_.push_back(std::move(record));
  }
  size_t size() const { return tensors_.size(); }
  bool empty() const { return tensors_.empty(); }

  // Lookup by qualified name; nullptr when absent. Builds an index on first use.
  const TensorRecord* find(std::string_view name) const;

  // Names grouped by storage_key, for groups of two or more (tied weights, views).
  std::vector<std::vector<std::string>> shared_storage_groups() const;

  // Assigns the report's opaque storage ids ("s0", "s1", ...) from storage_key,
  // in order of first appearance.
  void assign_storage_ids();

 private:
  std::vector<TensorRecord> tensors_;
  mutable std::unordered_map<std::string_view, size_t> index_;
};

}  // namespace metaguard
