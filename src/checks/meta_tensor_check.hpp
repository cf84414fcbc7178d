#pragma once
#include "checks/check.hpp"

namespace metaguard {

// Shared by the three meta checks: a tensor of one kind is on meta at a phase where that
// kind must hold data. Subclasses say which kind and why that kind ends up there.
class MetaTensorCheck : public Check {
 public:
  RepairKind repair() const override { return RepairKind::Materialize; }
  void run(const CheckContext& context, std::vector<Finding>& out) const override;

 protected:
  virtual TensorKind kind() const = 0;
  virtual std::string_view why() const = 0;   // why this kind gets stuck on meta
  virtual std::string_view hint() const = 0;  // what to do about it
};

class MetaParameterCheck final : public MetaTensorCheck {
 public:
  std::string_view code() const override { return "meta-parameter"; }

 protected:
  TensorKind kind() const override { return TensorKind::Parameter; }
  std::string_view why() const override {
    return "a parameter gets data only from a checkpoint, a broadcast from rank 0 or its init recipe";
  }
  std::string_view hint() const override {
    return "load it from a checkpoint that has this key, broadcast from rank 0 to every rank, or "
           "materialize it from its init recipe (--on-meta repair / --repair)";
  }
};

class MetaBufferCheck final : public MetaTensorCheck {
 public:
  std::string_view code() const override { return "meta-buffer"; }

 protected:
  TensorKind kind() const override { return TensorKind::Buffer; }
  std::string_view why() const override {
    return "a persistent buffer gets data only from a checkpoint, a broadcast or its init recipe";
  }
  std::string_view hint() const override {
    return "load or broadcast persistent buffers along with parameters, or materialize it from "
           "its init recipe (--on-meta repair / --repair)";
  }
};

class MetaNonpersistentBufferCheck final : public MetaTensorCheck {
 public:
  std::string_view code() const override { return "meta-nonpersistent-buffer"; }

 protected:
  TensorKind kind() const override { return TensorKind::NonpersistentBuffer; }
  std::string_view why() const override {
    return "a non-persistent buffer is in no state dict, so neither a checkpoint load nor a "
           "broadcast of parameters restores it; only recomputing it does";
  }
  std::string_view hint() const override {
    return "recompute derived buffers on every rank after materialization (declare_derived() "
           "gives metaguard the recipe; --on-meta repair / --repair runs it)";
  }
};

}  // namespace metaguard
