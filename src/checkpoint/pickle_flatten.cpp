#include "checkpoint/pickle_flatten.hpp"

#include <cmath>
#include <unordered_set>

#include <fmt/format.h>

#include "checkpoint/file_error.hpp"

namespace metaguard {
namespace {

constexpr int kMaxDepth = 100;
constexpr const char* kRootName = "<root>";

enum class TensorState : uint8_t { Unknown, Visiting, None, Some };

class Flattener {
 public:
  Flattener(const PickleDocument& document, const std::string& path)
      : doc_(document), path_(path), state_(document.values.size(), TensorState::Unknown),
        on_path_(document.values.size(), false),
        budget_(4 * static_cast<int64_t>(document.values.size()) + 4096) {}

  FlatPickle run() {
    walk(doc_.root, "", 0);
    return std::move(out_);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { fail_file(path_, "data.pkl: " + what); }

  void spend() {
    if (--budget_ < 0) {
      fail("refers to the same containers so often that listing them would not end "
           "in reasonable time (a hostile or damaged pickle)");
    }
  }

  // Does the value hold a tensor anywhere inside? Memoized; cycles count as "no" here and
  // are refused by walk() when they hold tensors.
  bool holds_tensor(ValueId id, int depth) {
    const PickleValue& v = doc_.value(id);
    if (v.kind == PickleKind::Tensor) return true;
    if (!PickleDocument::is_container(v.kind)) return false;
    if (depth > kMaxDepth) fail(fmt::format("nests containers more than {} levels deep", kMaxDepth));
    TensorState& state = state_[id];
    if (state == TensorState::Some) return true;
    if (state == TensorState::None || state == TensorState::Visiting) return false;
    state = TensorState::Visiting;
    bool found = false;
    for (ValueId item : doc_.items(v)) {
      spend();
      if (holds_tensor(item, depth + 1)) {
        found = true;
        break;
      }
    }
    state_[id] = found ? TensorState::Some : TensorState::None;
    return found;
  }

  std::string key_name(ValueId key) const {
    const PickleValue& v = doc_.value(key);
    switch (v.kind) {
      case PickleKind::String: return doc_.text(v);
      case PickleKind::Bytes:
        if (printable(doc_.text(v), SIZE_MAX) == doc_.text(v)) return doc_.text(v);
        break;
      case PickleKind::Int: return std::to_string(v.integer);
      case PickleKind::Bool: return v.integer ? "True" : "False";
      case PickleKind::None: return "None";
      default: break;
    }
    return "";
  }

  static std::string join(const std::string& prefix, const std::string& key) {
    return prefix.empty() ? key : prefix + "." + key;
  }

  void walk(ValueId id, const std::string& name, int depth) {
    spend();
    const PickleValue& v = doc_.value(id);
    if (v.kind == PickleKind::Tensor) {
      std::string entry = name.empty() ? kRootName : name;
      if (!names_.insert(entry).second) {
        fail(fmt::format("two tensors are named '{}' once nested keys are joined with '.'", printable(entry)));
      }
      out_.tensors.push_back({std::move(entry), v.index});
      return;
    }
    if (!PickleDocument::is_container(v.kind) || !holds_tensor(id, depth)) {
      out_.metadata[name.empty() ? kRootName : name] = to_json(id, depth);
      return;
    }
    if (depth > kMaxDepth) fail(fmt::format("nests containers more than {} levels deep", kMaxDepth));
    if (on_path_[id]) fail("holds a container inside itself");
    on_path_[id] = true;
    const std::vector<ValueId>& items = doc_.items(v);
    if (v.kind == PickleKind::Dict) {
      for (size_t i = 0; i + 1 < items.size(); i += 2) {
        std::string key = key_name(items[i]);
        if (key.empty() && doc_.value(items[i]).kind != PickleKind::String) {
          if (holds_tensor(items[i + 1], depth + 1)) {
            fail(fmt::format("a dict key under '{}' that is not text, an integer, a bool or None "
                             "names tensors", printable(name)));
          }
          continue;  // metadata under an odd key: nothing to name
        }
        walk(items[i + 1], join(name, key), depth + 1);
      }
    } else {
      for (size_t i = 0; i < items.size(); ++i) walk(items[i], join(name, std::to_string(i)), depth + 1);
    }
    on_path_[id] = false;
  }

  nlohmann::json to_json(ValueId id, int depth) {
    spend();
    const PickleValue& v = doc_.value(id);
    switch (v.kind) {
      case PickleKind::None: return nullptr;
      case PickleKind::Bool: return v.integer != 0;
      case PickleKind::Int: return v.integer;
      case PickleKind::Float: return std::isfinite(v.real) ? nlohmann::json(v.real) : nlohmann::json(nullptr);
      case PickleKind::String: return doc_.text(v);
      case PickleKind::Bytes: return fmt::format("<{} bytes>", doc_.text(v).size());
      case PickleKind::Global: return doc_.text(v);
      case PickleKind::Storage: return fmt::format("<storage {}>", doc_.storages[v.index].key);
      case PickleKind::Tensor: return "<tensor>";  // not reached: walk() names tensors
      default: break;
    }
    if (depth > kMaxDepth) fail(fmt::format("nests containers more than {} levels deep", kMaxDepth));
    if (on_path_[id]) fail("holds a container inside itself");
    on_path_[id] = true;
    nlohmann::json out;
    const std::vector<ValueId>& items = doc_.items(v);
    if (v.kind == PickleKind::Dict) {
      out = nlohmann::json::object();
      for (size_t i = 0; i + 1 < items.size(); i += 2) {
        std::string key = key_name(items[i]);
        if (key.empty() && doc_.value(items[i]).kind != PickleKind::String) key = "<key>";
        out[key] = to_json(items[i + 1], depth + 1);
      }
    } else {
      out = nlohmann::json::array();
      for (ValueId item : items) out.push_back(to_json(item, depth + 1));
    }
    on_path_[id] = false;
    return out;
  }

  const PickleDocument& doc_;
  const std::string& path_;
  std::vector<TensorState> state_;
  std::vector<bool> on_path_;
  int64_t budget_;
  std::unordered_set<std::string> names_;
  FlatPickle out_;
};

}  // namespace

FlatPickle flatten_pickle(const PickleDocument& document, const std::string& path) {
  return Flattener(document, path).run();
}

}  // namespace metaguard
