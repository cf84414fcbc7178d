#pragma once
#include <string>
#include <vector>

#include <torch/csrc/utils/pybind.h>

#include "core/inventory.hpp"

namespace metaguard::python {

namespace py = pybind11;

// Where the walker found one tensor: what repair needs to fill it in place.
struct TensorPlace {
  py::object tensor;       // the Python tensor object (its identity is what repair keeps)
  py::object owner;        // the nn.Module that holds it, directly or through a container
  std::string owner_path;  // the owner's qualified name ("" for the root)
  std::string local_name;  // relative to the owner: "weight", "cache[0]", "tables[rope]"
};

struct WalkOptions {
  bool hash_contents = false;  // O(bytes): only for the cross-rank comparison
  // module -> {local name: fn(module) -> tensor} (a WeakKeyDictionary), or None.
  py::object recipes = py::none();
  // nn.Module's own __dict__ names (hooks, registries, flags), in the order a fresh
  // module has them: never user tensors.
  py::tuple module_internals;
};

// One walk of a live Python module tree. `inventory` and `places` are parallel.
struct PythonWalk {
  Inventory inventory;
  std::vector<TensorPlace> places;
  std::string root_type;  // the root module's class name, the report's source
};

// Lists every parameter, every buffer (persistent or not) and every tensor held in a
// module's plain attributes, also inside lists, tuples and dicts, in named_modules()
// order (each module object once, as named_modules() does; a tensor registered under two
// names is listed under both, which is how ties are seen). Attribute tensors are
// non-persistent for metaguard: no state dict or broadcast carries them.
// Declared derived tensors are marked derived; those holding data are recomputed and
// compared (derived_current), which calls the user's recipe.
PythonWalk walk_module(py::handle root, const WalkOptions& options);

}  // namespace metaguard::python
