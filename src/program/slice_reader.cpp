#include "program/slice_reader.hpp"

#include <zlib.h>

#include <stdexcept>

#include <fmt/format.h>
#include <torch/torch.h>

#include "checkpoint/file_error.hpp"
#include "walk/dtype_names.hpp"

namespace metaguard {

SliceReader::SliceReader(const CheckpointFile& file, ShardedTensors& shards)
    : file_(file), shards_(shards), reader_(file), parts_(shards.tensors().size()) {}

std::optional<uint64_t> SliceReader::read(ShardedTensor& tensor, const CheckpointTensor& entry,
                                          const torch::Device& device) {
  const c10::ScalarType dtype = tensor.handle.scalar_type();
  if (entry.is_meta() || !entry.contiguous || entry.shape != tensor.shape ||
      scalar_type_from_name(entry.dtype) != dtype) {
    return std::nullopt;
  }
  // Only a weight that is its whole record: the ranks' spans then tile the record (a view
  // into a larger storage would have rank 0 and the last rank read the rest of it).
  const CheckpointStorage& storage = file_.storages()[*entry.storage];
  const uint64_t element = c10::elementSize(dtype);
  if (entry.storage_offset != 0 || static_cast<uint64_t>(entry.numel) * element != static_cast<uint64_t>(storage.nbytes)) {
    return std::nullopt;
  }
  shards_.allocate(tensor, device, dtype);
  const uint64_t begin = static_cast<uint64_t>(tensor.slice.begin) * element;  // the record starts with the weight
  const uint64_t end = static_cast<uint64_t>(tensor.slice.end) * element;
  const uint64_t record_end = storage.file_offset ? storage.stored_size : static_cast<uint64_t>(storage.nbytes);
  const uint64_t span_begin = shards_.rank() == 0 ? 0 : begin;
  const uint64_t span_end = shards_.rank() == shards_.world_size() - 1 ? record_end : end;

  torch::Tensor part = tensor.local.narrow(0, 0, tensor.slice.size());
  torch::Tensor into = device.is_cpu() ? part : torch::empty({tensor.slice.size()}, part.options().device(torch::kCPU));
  std::optional<uint32_t> crc =
      reader_.read_part(*entry.storage, begin, end, static_cast<char*>(into.data_ptr()), span_begin, span_end);
  if (!device.is_cpu()) part.copy_(into);
  if (crc) {
    const auto index = static_cast<size_t>(&tensor - shards_.tensors().data());
    if (index >= parts_.size()) throw std::logic_error("SliceReader::read: a tensor of another ShardedTensors");
    parts_[index] = {static_cast<int64_t>(*entry.storage), *crc, span_end - span_begin};
  }
  return end - begin;
}

void SliceReader::verify(SliceGatherer& gatherer) const {
  const int world = shards_.world_size();
  const int64_t count = static_cast<int64_t>(parts_.size());
  torch::Tensor local = torch::empty({3 * count}, torch::kInt64);
  auto* values = local.data_ptr<int64_t>();
  for (int64_t i = 0; i < count; ++i) {
    values[3 * i] = parts_[i].storage;
    values[3 * i + 1] = parts_[i].crc;
    values[3 * i + 2] = static_cast<int64_t>(parts_[i].length);
  }
  std::vector<torch::Tensor> all(world);
  for (auto& tensor : all) tensor = torch::empty_like(local);
  gatherer.all_gather(local, all, "all-gather slice checksums");

  for (int64_t i = 0; i < count; ++i) {
    const int64_t storage = all[0].data_ptr<int64_t>()[3 * i];
    bool complete = storage >= 0;
    uLong crc = 0;
    uint64_t length = 0;
    for (int r = 0; r < world && complete; ++r) {
      const int64_t* part = all[r].data_ptr<int64_t>() + 3 * i;
      complete = part[0] == storage;
      const uLong part_crc = static_cast<uLong>(part[1]);
      crc = r == 0 ? part_crc : crc32_combine(crc, part_crc, static_cast<z_off_t>(part[2]));
      length += static_cast<uint64_t>(part[2]);
    }
    if (!complete) continue;
    const CheckpointStorage& record = file_.storages().at(static_cast<size_t>(storage));
    if (!record.crc32) continue;
    if (length != record.stored_size) {
      throw std::logic_error(fmt::format("SliceReader::verify: the ranks' spans of '{}' cover {} of its {} bytes",
                                         record.record, length, record.stored_size));
    }
    if (static_cast<uint32_t>(crc) != *record.crc32) {
      fail_file(file_.path(),
                fmt::format("storage record '{}' fails its CRC-32 check (the file is corrupt; its {} ranks' parts "
                            "combined)",
                            printable(record.record.empty() ? record.key : record.record), world));
    }
  }
}

}  // namespace metaguard
