#include "python_module_walker.hpp"

#include <optional>
#include <unordered_set>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/python_variable.h>

#include "walk/tensor_facts.hpp"

namespace metaguard::python {
namespace {

// Containers nested deeper than this are not searched: tensors kept that deep are not
// module state, and the bound keeps a self-referencing structure from costing much.
constexpr int kMaxContainerDepth = 4;

std::string join_name(const std::string& prefix, const std::string& local) {
  return prefix.empty() ? local : prefix + "." + local;
}

// The registry names of nn.Module's __dict__, made once: a lookup by a ready string object
// skips building and hashing a new one per module.
struct RegistryKeys {
  py::str parameters{"_parameters"};
  py::str buffers{"_buffers"};
  py::str nonpersistent{"_non_persistent_buffers_set"};
  py::str modules{"_modules"};
};

const RegistryKeys& registry_keys() {
  static const RegistryKeys* keys = new RegistryKeys();  // never destroyed: outlives the interpreter's strings
  return *keys;
}

// A borrowed entry of a module's __dict__, or null.
PyObject* dict_entry(PyObject* dict, const py::str& key) { return PyDict_GetItem(dict, key.ptr()); }

// Whether `value` is a tensor (a Parameter, a subclass): by its type's bases, without the
// isinstance protocol that THPVariable_Check goes through for every other object.
bool is_tensor(PyObject* value) {
  return THPVariableClass && PyType_IsSubtype(Py_TYPE(value), reinterpret_cast<PyTypeObject*>(THPVariableClass));
}

// Most attributes are flags, sizes and names, which hold no tensor.
bool plainly_not_a_tensor(PyObject* value) {
  return value == Py_None || PyBool_Check(value) || PyLong_Check(value) || PyFloat_Check(value) ||
         PyUnicode_Check(value) || PyFunction_Check(value) || PyMethod_Check(value);
}

// Whether `tensor` equals what its recipe gives now; unknown when the recipe cannot tell
// (it returns a meta tensor, having been written for a model on meta).
std::optional<bool> recipe_matches(const at::Tensor& tensor, py::handle recipe, py::handle owner) {
  py::object value = recipe(owner);
  if (!THPVariable_Check(value.ptr())) {
    throw py::type_error("metaguard: a declared recipe returned " + std::string(py::str(py::type::of(value))) +
                         ", not a tensor");
  }
  at::NoGradGuard no_grad;
  const at::Tensor& expected = THPVariable_Unpack(value.ptr());
  if (expected.is_meta()) return std::nullopt;
  if (expected.sizes() != tensor.sizes()) return false;
  return at::equal(expected.to(tensor.device(), tensor.scalar_type()), tensor);
}

// A dict key or attribute name as UTF-8; nullopt for one that has none (a lone surrogate).
std::optional<std::string> utf8_name(PyObject* name) {
  const char* text = PyUnicode_AsUTF8(name);
  if (!text) {
    PyErr_Clear();
    return std::nullopt;
  }
  return std::string(text);
}

class Walker {
 public:
  Walker(const WalkOptions& options, PythonWalk& out)
      : options_(options), out_(out), internal_set_(py::reinterpret_steal<py::object>(PyFrozenSet_New(options.module_internals.ptr()))) {
    use_recipes_ = !options.recipes.is_none() && py::len(options.recipes) > 0;
    for (py::handle name : options.module_internals) internal_order_.push_back(name.ptr());
  }

  void visit_module(py::handle module, const std::string& prefix) {
    if (!seen_modules_.insert(module.ptr()).second) return;
    py::object dict_object = py::reinterpret_steal<py::object>(PyObject_GenericGetDict(module.ptr(), nullptr));
    PyObject* dict = dict_object && PyDict_Check(dict_object.ptr()) ? dict_object.ptr() : nullptr;
    if (!dict) {
      PyErr_Clear();
      return;
    }
    py::object recipes = recipes_of(module);
    Owner owner{module, prefix, recipes};
    const RegistryKeys& keys = registry_keys();

    if (PyObject* parameters = dict_entry(dict, keys.parameters); parameters && PyDict_Check(parameters)) {
      registry(parameters, owner, [](PyObject*) { return TensorKind::Parameter; });
    }
    if (PyObject* buffers = dict_entry(dict, keys.buffers); buffers && PyDict_Check(buffers)) {
      PyObject* nonpersistent = dict_entry(dict, keys.nonpersistent);
      registry(buffers, owner, [nonpersistent](PyObject* key) {
        bool derived_only = nonpersistent && PySet_Check(nonpersistent) && PySet_Contains(nonpersistent, key) == 1;
        return derived_only ? TensorKind::NonpersistentBuffer : TensorKind::Buffer;
      });
    }
    attributes(dict, owner);
    if (PyObject* children = dict_entry(dict, keys.modules); children && PyDict_Check(children)) {
      PyObject* key = nullptr;
      PyObject* child = nullptr;
      Py_ssize_t position = 0;
      while (PyDict_Next(children, &position, &key, &child)) {
        if (child == Py_None || !PyUnicode_Check(key)) continue;
        if (auto name = utf8_name(key)) visit_module(child, join_name(prefix, *name));
      }
    }
  }

  // Recomputes the declared recipes of tensors that hold data and compares.
  void compare_derived() {
    auto& records = out_.inventory.mutable_tensors();
    for (const auto& item : recomputations_) {
      const at::Tensor& tensor = THPVariable_Unpack(out_.places[item.index].tensor.ptr());
      records[item.index].derived_current = recipe_matches(tensor, item.recipe, item.owner);
    }
  }

 private:
  struct Owner {
    py::handle module;
    const std::string& prefix;
    const py::object& recipes;  // None, or {local name: fn}
  };

  py::object recipes_of(py::handle module) {
    if (!use_recipes_) return py::none();
    PyObject* found = PyObject_GetItem(options_.recipes.ptr(), module.ptr());
    if (!found) {
      PyErr_Clear();
      return py::none();
    }
    return py::reinterpret_steal<py::object>(found);
  }

  template <typename KindOf>
  void registry(PyObject* entries, const Owner& owner, const KindOf& kind_of) {
    PyObject* key = nullptr;
    PyObject* value = nullptr;
    Py_ssize_t position = 0;
    while (PyDict_Next(entries, &position, &key, &value)) {
      if (value == Py_None || !PyUnicode_Check(key) || !is_tensor(value)) continue;
      if (auto name = utf8_name(key)) add(value, owner, *name, kind_of(key));
    }
  }

  void attributes(PyObject* dict, const Owner& owner) {
    PyObject* key = nullptr;
    PyObject* value = nullptr;
    Py_ssize_t position = 0;
    size_t next_internal = 0;
    while (PyDict_Next(dict, &position, &key, &value)) {
      // nn.Module.__init__ sets its own names first, in one order, as the same interned
      // strings: the walk steps over them by identity and asks the set only for the rest.
      if (next_internal < internal_order_.size() && key == internal_order_[next_internal]) {
        ++next_internal;
        continue;
      }
      if (!PyUnicode_Check(key) || plainly_not_a_tensor(value)) continue;
      if (PySet_Contains(internal_set_.ptr(), key) == 1) continue;
      if (auto name = utf8_name(key)) attribute_value(value, owner, *name, 0);
    }
  }

  void attribute_value(PyObject* value, const Owner& owner, const std::string& local, int depth) {
    if (plainly_not_a_tensor(value)) return;
    if (is_tensor(value)) {
      add(value, owner, local, TensorKind::NonpersistentBuffer);
      return;
    }
    const bool sequence = PyList_Check(value) || PyTuple_Check(value);
    const bool mapping = PyDict_Check(value);
    if ((!sequence && !mapping) || depth >= kMaxContainerDepth) return;
    if (!seen_containers_.insert(value).second) return;
    if (sequence) {
      py::object items = py::reinterpret_steal<py::object>(PySequence_Fast(value, "a list or tuple"));
      Py_ssize_t size = PySequence_Fast_GET_SIZE(items.ptr());
      for (Py_ssize_t i = 0; i < size; ++i) {
        attribute_value(PySequence_Fast_GET_ITEM(items.ptr(), i), owner, local + "[" + std::to_string(i) + "]",
                        depth + 1);
      }
      return;
    }
    // A snapshot of the items: naming a key runs its __str__, which may change the dict.
    py::list items = py::reinterpret_steal<py::list>(PyDict_Items(value));
    for (py::handle item : items) {
      py::tuple pair = py::reinterpret_borrow<py::tuple>(item);
      std::string key_text = py::str(pair[0]);
      attribute_value(pair[1].ptr(), owner, local + "[" + key_text + "]", depth + 1);
    }
  }

  void add(PyObject* object, const Owner& owner, std::string local, TensorKind kind) {
    const at::Tensor& tensor = THPVariable_Unpack(object);
    TensorRecord& record = out_.inventory.mutable_tensors().emplace_back();
    record.name = join_name(owner.prefix, local);
    record.kind = kind;
    describe_tensor(tensor, record);
    if (options_.hash_contents && !record.is_meta() && record.storage_key != 0) {
      try {
        record.content_hash = content_hash(tensor);
      } catch (const c10::Error&) {
        // A wrapper subclass without bytes of its own: compared by state and shape only.
      }
    }
    if (!owner.recipes.is_none()) {
      py::dict recipes = py::reinterpret_borrow<py::dict>(owner.recipes);
      if (recipes.contains(local)) {
        record.derived = true;
        // Compared after the walk: a recipe may register buffers, which must not happen
        // while a registry is being iterated.
        if (!record.is_meta()) {
          recomputations_.push_back({out_.inventory.size() - 1, recipes[py::str(local)], owner.module});
        }
      }
    }
    out_.places.push_back({py::reinterpret_borrow<py::object>(object), py::reinterpret_borrow<py::object>(owner.module),
                           owner.prefix, std::move(local)});
  }

  struct Recomputation {
    size_t index;
    py::object recipe;
    py::handle owner;
  };

  const WalkOptions& options_;
  PythonWalk& out_;
  py::object internal_set_;
  std::vector<PyObject*> internal_order_;
  std::vector<Recomputation> recomputations_;
  bool use_recipes_ = false;
  std::unordered_set<PyObject*> seen_modules_;
  std::unordered_set<PyObject*> seen_containers_;
};

}  // namespace

PythonWalk walk_module(py::handle root, const WalkOptions& options) {
  PythonWalk walk;
  walk.root_type = py::str(py::type::of(root).attr("__name__"));
  Walker walker(options, walk);
  walker.visit_module(root, "");
  walker.compare_derived();
  return walk;
}

}  // namespace metaguard::python
