#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "checkpoint/pickle_document.hpp"

namespace metaguard {

// A pickled checkpoint reduced to named tensors and metadata.
struct FlatPickle {
  struct Entry {
    std::string name;     // keys joined with '.'; "<root>" when the root itself is a tensor
    uint32_t tensor = 0;  // index into PickleDocument::tensors
  };
  std::vector<Entry> tensors;  // in pickle order
  nlohmann::json metadata = nlohmann::json::object();  // non-tensor leaves by flattened key
};

// Walks the document from its root: dicts contribute their keys, lists, tuples and sets
// their indices; every tensor becomes an entry. A container holding no tensor is one
// metadata value (JSON). Keys naming tensors must be text, integers, bools or None.
// Refuses (InputError naming `path`) containers inside themselves, nesting deeper than 100
// levels, two entries with one flattened name, and shared containers referenced so often
// that the walk would exceed a budget proportional to the document's size.
FlatPickle flatten_pickle(const PickleDocument& document, const std::string& path);

}  // namespace metaguard
