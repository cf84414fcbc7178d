#include "load/checkpoint_saver.hpp"

#include <string_view>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <torch/torch.h>

#include "checkpoint/checkpoint_writer.hpp"
#include "checkpoint/file_error.hpp"
#include "model/gpt.hpp"
#include "walk/dtype_names.hpp"
#include "walk/module_walker.hpp"

namespace metaguard {

void save_checkpoint(torch::nn::Module& model, const std::string& path, const SaveOptions& options) {
  torch::NoGradGuard no_grad;
  ModuleWalker walker(model);
  std::vector<WriteStorage> storages;
  std::vector<WriteTensor> tensors;
  std::vector<torch::Tensor> host_copies;  // CPU copies of device storages, alive until written
  std::unordered_map<const c10::StorageImpl*, size_t> storage_index;
  const auto* gpt = dynamic_cast<const GPTImpl*>(&model);
  const bool grouped = gpt && options.layout == QkvLayout::Grouped;

  for (const auto& live : walker.tensors()) {
    if (!is_persistent(live.kind) || !live.tensor.defined()) continue;
    const bool adapter = live.kind == TensorKind::Parameter && is_lora_parameter_name(live.name);
    if (options.lora_only && !adapter) continue;
    if (options.base_model_keys && adapter) continue;
    std::string key = grouped ? grouped_key(live.name) : live.name;
    if (options.base_model_keys) key = to_base_key(key);
    const torch::Tensor& tensor = live.tensor;
    if (tensor.is_meta()) {
      fail_file(path, fmt::format("cannot save {} {}: it is on the meta device and holds no data; load or "
                                  "initialize it first", kind_label(live.kind), live.name));
    }
    const std::string dtype = dtype_name(tensor.scalar_type());
    if (grouped && has_fused_qkv_rows(live.name)) {
      // Reordered rows are a new tensor: written as a storage of its own.
      host_copies.push_back(grouped_from_interleaved(tensor, qkv_geometry(gpt->config())).to(torch::kCPU).contiguous());
      const torch::Tensor& rows = host_copies.back();
      storages.push_back({dtype, std::string_view(static_cast<const char*>(rows.data_ptr()), rows.nbytes()),
                          tensor.device().str()});
      tensors.push_back(whole_storage_tensor(key, dtype, rows.sizes().vec(), storages.size() - 1));
      continue;
    }
    const c10::Storage& storage = tensor.storage();
    auto [it, inserted] = storage_index.emplace(storage.unsafeGetStorageImpl(), storages.size());
    if (inserted) {
      const size_t element = tensor.element_size();
      if (storage.nbytes() % element != 0) {
        fail_file(path, fmt::format("cannot save {}: its storage of {} bytes is not a whole number of {} elements",
                                    live.name, storage.nbytes(), dtype));
      }
      std::string_view bytes;
      if (storage.nbytes() > 0 && tensor.device().is_cpu()) {
        bytes = std::string_view(static_cast<const char*>(storage.data()), storage.nbytes());
      } else if (storage.nbytes() > 0) {
        // The whole storage, as torch.save writes it, brought to the host.
        const int64_t numel = static_cast<int64_t>(storage.nbytes() / element);
        torch::Tensor whole = torch::empty({0}, tensor.options()).set_(storage, 0, {numel}, {1});
        host_copies.push_back(whole.to(torch::kCPU));
        bytes = std::string_view(static_cast<const char*>(host_copies.back().data_ptr()), storage.nbytes());
      }
      storages.push_back({dtype, bytes, tensor.device().str()});
    }
    tensors.push_back({key, dtype, tensor.sizes().vec(), tensor.strides().vec(), tensor.storage_offset(), it->second});
  }
  write_torch_checkpoint(path, storages, tensors);
}

}  // namespace metaguard
