// The `metaguard._metaguard` extension: the library's walk description, ledger, checks and
// renderers, bound for the Python package (python/metaguard/), which owns the API.
#include <optional>
#include <string>
#include <vector>

#include <torch/csrc/utils/pybind.h>
#include <torch/version.h>

#include "core/errors.hpp"
#include "core/hashing.hpp"
#include "core/phase.hpp"
#include "guard_session.hpp"
#include "python_module_walker.hpp"
#include "repair/in_place.hpp"
#include "walk/tensor_facts.hpp"
#include "report/renderer.hpp"
#include "report/report_json.hpp"

namespace py = pybind11;
using namespace metaguard;
using namespace metaguard::python;

namespace {

PhaseInfo phase_named(const std::string& name) {
  if (auto info = find_phase(name)) return *info;
  std::string known;
  for (const auto& phase : all_phases()) known += (known.empty() ? "" : ", ") + std::string(phase.name);
  throw py::value_error("metaguard: unknown phase '" + name + "' (one of: " + known + ")");
}

std::vector<Finding> unresolved_errors(const Report& report) {
  std::vector<Finding> errors;
  for (const auto& finding : report.findings) {
    if (finding.severity == Severity::Error && !finding.repaired && !finding.allowed) errors.push_back(finding);
  }
  return errors;
}

py::dict summary_dict(const Report& report) {
  Summary summary = report.summary();
  py::dict out;
  out["tensors"] = summary.tensors;
  out["meta"] = summary.meta;
  out["errors"] = summary.errors;
  out["warnings"] = summary.warnings;
  out["repaired"] = summary.repaired;
  out["allowed"] = summary.allowed;
  py::dict bytes;
  for (const auto& [device, count] : summary.bytes_by_device) bytes[py::str(device)] = count;
  out["bytes_by_device"] = bytes;
  return out;
}

std::string finding_repr(const Finding& f) {
  return "<metaguard.Finding " + f.code + (f.tensor ? " " + *f.tensor : std::string()) +
         (f.rank ? " rank " + std::to_string(*f.rank) : std::string()) + (f.phase ? " at " + *f.phase : std::string()) +
         ">";
}

// One tuple per walked tensor, for repair: (name, kind, meta, storage key, tensor, owner,
// owner path, local name).
py::list places_of(const PythonWalk& walk) {
  py::list out;
  const auto& records = walk.inventory.tensors();
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    const auto& p = walk.places[i];
    out.append(py::make_tuple(r.name, std::string(to_string(r.kind)), r.is_meta(), r.storage_key, p.tensor, p.owner,
                              p.owner_path, p.local_name));
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(_metaguard, m) {
  m.doc() = "metaguard's C++ library for the metaguard Python package";
  m.attr("TORCH_VERSION") = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
                            std::to_string(TORCH_VERSION_PATCH);
  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const InputError& input) {
      PyErr_SetString(PyExc_ValueError, input.what());
    }
  });

  py::class_<Finding>(m, "Finding", "One problem a check found.")
      .def_property_readonly("code", [](const Finding& f) { return f.code; })
      .def_property_readonly("severity", [](const Finding& f) { return std::string(to_string(f.severity)); })
      .def_property_readonly("tensor", [](const Finding& f) { return f.tensor; })
      .def_property_readonly("rank", [](const Finding& f) { return f.rank; })
      .def_property_readonly("phase", [](const Finding& f) { return f.phase; })
      .def_property_readonly("message", [](const Finding& f) { return f.message; })
      .def_property_readonly("cause", [](const Finding& f) { return f.message; }, "the message: what and why")
      .def_property_readonly("hint", [](const Finding& f) { return f.hint; })
      .def_property_readonly("fix", [](const Finding& f) { return f.hint; }, "what to do about it")
      .def_property_readonly("repaired", [](const Finding& f) { return f.repaired; })
      .def_property_readonly("allowed", [](const Finding& f) { return f.allowed; })
      .def("to_dict", [](const Finding& f) { return py::module_::import("json").attr("loads")(finding_to_json(f).dump()); })
      .def("__repr__", &finding_repr);

  py::class_<Report>(m, "Report", "What one check found, in the metaguard.report/1 schema.")
      .def_property_readonly("command", [](const Report& r) { return r.command; })
      .def_property_readonly("source", [](const Report& r) { return r.source; })
      .def_property_readonly("findings", [](const Report& r) { return r.findings; })
      .def_property_readonly("errors", &unresolved_errors, "error findings neither repaired nor allowed")
      .def_property_readonly("ok", [](const Report& r) { return unresolved_errors(r).empty(); })
      .def_property_readonly("summary", &summary_dict)
      .def_property_readonly("tensor_names", [](const Report& r) {
        std::vector<std::string> names;
        names.reserve(r.tensors.size());
        for (const auto& t : r.tensors) names.push_back(t.name);
        return names;
      })
      .def("to_json", [](const Report& r, int indent) { return report_to_json(r).dump(indent); }, py::arg("indent") = 2)
      .def("render", [](const Report& r, const std::string& format, bool verbose) {
        return make_renderer(format, verbose)->render(r);
      }, py::arg("format") = "text", py::arg("verbose") = false)
      .def("__str__", [](const Report& r) { return make_renderer("text")->render(r); })
      .def("__repr__", [](const Report& r) {
        Summary s = r.summary();
        return "<metaguard.Report " + r.source + ": " + std::to_string(s.tensors) + " tensors, " +
               std::to_string(s.errors) + " errors, " + std::to_string(s.repaired) + " repaired>";
      });

  py::class_<PythonWalk>(m, "Walk", "One walk of a module tree.")
      .def("__len__", [](const PythonWalk& w) { return w.inventory.size(); })
      .def("digest", [](const PythonWalk& w) { return rank_digest(w.inventory); })
      .def("places", &places_of);

  py::class_<GuardSession>(m, "Session", "One module's ledger across phases.")
      .def(py::init<>())
      .def("check", [](GuardSession& session, PythonWalk& walk, const std::string& phase, std::optional<int> rank,
                       std::vector<std::string> allow, std::optional<std::vector<std::string>> digests,
                       std::optional<std::vector<std::pair<std::string, at::Tensor>>> optimizer) {
        CheckRequest request{phase_named(phase), rank, std::move(allow), {}, std::nullopt};
        if (optimizer) {
          request.optimizer.emplace();
          for (const auto& [label, tensor] : *optimizer) {
            OptimizerEntry entry;
            entry.label = label;
            entry.tensor_key = reinterpret_cast<uint64_t>(tensor.unsafeGetTensorImpl());
            entry.device = device_name(tensor.device());
            request.optimizer->push_back(std::move(entry));
          }
        }
        if (digests) {
          for (size_t r = 0; r < digests->size(); ++r) {
            request.ranks.push_back(inventory_from_digest((*digests)[r], static_cast<int>(r)));
          }
        }
        return session.check(std::move(walk), request);
      }, py::arg("walk"), py::arg("phase"), py::arg("rank"), py::arg("allow"), py::arg("digests"),
         py::arg("optimizer"))
      .def("note", &GuardSession::note, py::arg("tensor"), py::arg("event"), py::arg("detail") = "");

  m.def("walk", [](py::handle module, bool hash_contents, py::object recipes, py::tuple internals) {
    WalkOptions options;
    options.hash_contents = hash_contents;
    options.recipes = std::move(recipes);
    options.module_internals = std::move(internals);
    return walk_module(module, options);
  }, py::arg("module"), py::arg("hash_contents"), py::arg("recipes"), py::arg("internals"));
  m.def("phases", [] {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& phase : all_phases()) out.emplace_back(phase.name, phase.sentence);
    return out;
  });
  m.def("swap_in_place", [](const at::Tensor& target, const at::Tensor& source) { swap_in_place(target, source); },
        "makes `target` hold `source`'s storage, device and layout, keeping its identity", py::arg("target"),
        py::arg("source"));
  m.def("tensor_seed", [](uint64_t seed, const std::string& name) { return tensor_seed(seed, name); });
  m.def("merge_after_repair", &merge_after_repair);
}
