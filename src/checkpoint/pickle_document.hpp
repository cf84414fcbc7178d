#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

// The value tree an allow-listed pickle describes (see pickle_reader.hpp), as plain data.
// Values live in one arena and refer to each other by ValueId, so a value the pickle's memo
// shares (a tensor under two keys, a list appended to later) is one node, as in Python.
namespace metaguard {

using ValueId = uint32_t;

enum class PickleKind : uint8_t {
  None, Bool, Int, Float, String, Bytes,
  Tuple, List, Dict, Set,
  Global,   // an allowed global not called (a dtype, a storage type, a rebuild function)
  Storage,  // a persistent id ('storage', type, key, location, numel)
  Tensor,   // the result of a rebuild call
};

struct PickleValue {
  PickleKind kind = PickleKind::None;
  bool ordered = false;  // Dict: built by collections.OrderedDict
  uint32_t index = 0;    // String/Bytes/Global: strings(); containers: containers();
                         // Storage: storages(); Tensor: tensors()
  int64_t integer = 0;   // Bool, Int
  double real = 0;       // Float
};

// One persistent id: where a storage's bytes are (zip record data/<key>).
struct PickleStorage {
  std::string dtype;     // from the storage-type global, CONTRACT.md name
  std::string key;       // record name under <archive>/data/
  std::string location;  // "cpu", "cuda:0"
  int64_t numel = 0;     // elements of dtype
  size_t position = 0;   // byte of data.pkl, for messages
};

// One rebuilt tensor (torch._utils._rebuild_tensor_v2 and friends).
struct PickleTensor {
  std::string dtype;
  std::optional<uint32_t> storage;  // index into storages(); none for a meta tensor
  int64_t storage_offset = 0;
  std::vector<int64_t> shape;
  std::vector<int64_t> stride;
  bool requires_grad = false;
  bool parameter = false;
  size_t position = 0;
};

struct PickleDocument {
  int protocol = 0;  // from the PROTO opcode; 0 when absent
  ValueId root = 0;
  std::vector<PickleValue> values;
  std::vector<std::string> strings;
  std::vector<std::vector<ValueId>> containers;  // Dict: key, value, key, value, ...
  std::vector<PickleStorage> storages;
  std::vector<PickleTensor> tensors;

  const PickleValue& value(ValueId id) const { return values[id]; }
  const std::string& text(const PickleValue& v) const { return strings[v.index]; }
  const std::vector<ValueId>& items(const PickleValue& v) const { return containers[v.index]; }
  static bool is_container(PickleKind kind) {
    return kind == PickleKind::Tuple || kind == PickleKind::List || kind == PickleKind::Dict ||
           kind == PickleKind::Set;
  }
};

}  // namespace metaguard
