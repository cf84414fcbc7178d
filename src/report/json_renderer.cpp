#include "report/json_renderer.hpp"

#include <fmt/format.h>

#include "report/json_text_writer.hpp"
#include "report/report_json.hpp"

namespace metaguard {
namespace {

// tensor_to_json's object, printed directly. The keys come in the order nlohmann prints
// them (sorted); a property test holds this to report_to_json(...).dump().
void write_tensor(JsonTextWriter& out, const TensorRecord& tensor) {
  out.begin_object();
  if (tensor.content_hash) {
    out.member("content_hash", fmt::format("{:016x}", *tensor.content_hash));
  }
  out.key("contiguous");
  out.boolean(tensor.contiguous);
  if (tensor.derived) {
    out.key("derived");
    out.boolean(true);
  }
  out.member("device", tensor.device);
  out.member("dtype", tensor.dtype);
  out.member("kind", to_string(tensor.kind));
  out.member("name", tensor.name);
  out.member("nbytes", tensor.nbytes);
  out.member("numel", tensor.numel);
  out.key("provenance");
  out.begin_array();
  for (const auto& event : tensor.provenance) {
    out.begin_object();
    if (!event.detail.empty()) {
      out.member("detail", event.detail);
    }
    out.member("device", event.device);
    out.member("event", event.event);
    out.member("phase", event.phase);
    out.end_object();
  }
  out.end_array();
  if (tensor.rank) {
    out.member("rank", int64_t{*tensor.rank});
  }
  out.key("requires_grad");
  if (tensor.requires_grad) {
    out.boolean(*tensor.requires_grad);
  } else {
    out.null();
  }
  out.key("shape");
  out.begin_array();
  for (int64_t size : tensor.shape) out.integer(size);
  out.end_array();
  out.key("storage");
  if (tensor.storage) {
    out.string(*tensor.storage);
  } else {
    out.null();
  }
  out.member("storage_offset", tensor.storage_offset);
  if (tensor.uninitialized) {
    out.key("uninitialized");
    out.boolean(true);
  }
  out.end_object();
}

}  // namespace

std::string JsonRenderer::render(const Report& report) const {
  // Everything but the tensors is small: built as json (one definition of the schema), then
  // printed member by member with the tensors streamed in at their place.
  const nlohmann::json rest = report_to_json(report, /*include_tensors=*/false);
  std::string text;
  text.reserve(4096 + 600 * report.tensors.size());
  JsonTextWriter out(text);
  out.begin_object();
  for (const auto& [key, value] : rest.items()) {
    out.key(key);
    if (key != "tensors") {
      out.value(value);
      continue;
    }
    out.begin_array();
    for (const auto& tensor : report.tensors) write_tensor(out, tensor);
    out.end_array();
  }
  out.end_object();
  text += '\n';
  return text;
}

}  // namespace metaguard
