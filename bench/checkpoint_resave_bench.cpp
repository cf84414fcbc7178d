// Reads a checkpoint's storages into memory and writes them back with metaguard's
// torch.save-compatible writer, reporting the throughput of both. Used to check the writer
// on a full-size (over 4 GiB, zip64) file; see README-scan.md.
//   checkpoint_resave_bench IN OUT
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_reader.hpp"
#include "checkpoint/checkpoint_writer.hpp"
#include "core/errors.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: checkpoint_resave_bench IN OUT\n");
    return 2;
  }
  try {
    using clock = std::chrono::steady_clock;
    auto start = clock::now();
    auto file = metaguard::CheckpointFile::open(argv[1]);
    std::vector<std::string> bytes(file.storages().size());
    std::vector<metaguard::WriteStorage> storages;
    uint64_t total = 0;
    for (size_t s = 0; s < file.storages().size(); ++s) {
      const auto& storage = file.storages()[s];
      bytes[s].resize(static_cast<size_t>(storage.nbytes));
      auto stream = file.open_storage(s);
      size_t done = 0;
      while (done < bytes[s].size()) {
        size_t got = stream->read(bytes[s].data() + done, bytes[s].size() - done);
        if (got == 0) break;
        done += got;
      }
      total += done;
      storages.push_back({storage.dtype, bytes[s], storage.location});
    }
    std::vector<metaguard::WriteTensor> tensors;
    for (const auto& t : file.tensors()) {
      tensors.push_back({t.name, t.dtype, t.shape, t.stride, t.storage_offset, t.storage});
    }
    auto loaded = clock::now();
    metaguard::write_torch_checkpoint(argv[2], storages, tensors);
    auto written = clock::now();
    auto seconds = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
    std::printf("read %.2f GB in %.2f s; wrote %zu tensors in %.2f s (%.2f GB/s, fsync included)\n",
                static_cast<double>(total) / 1e9, seconds(start, loaded), tensors.size(),
                seconds(loaded, written), static_cast<double>(total) / 1e9 / seconds(loaded, written));
  } catch (const metaguard::InputError& error) {
    std::fprintf(stderr, "checkpoint_resave_bench: %s\n", error.what());
    return 2;
  }
  return 0;
}
