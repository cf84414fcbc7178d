// Rendering a large report: 64 ranks x 80 layers = 5,120 findings of one problem plus a few
// outliers, in every format. Target (issue "Reports that stay readable"): under 100 ms each.
//   build/bench/report_render_bench [ranks=64] [layers=80] [repeat=11]
// Prints one line per format: median and range of `repeat` renders, and the output size.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/report.hpp"
#include "report/renderer.hpp"

using namespace metaguard;

namespace {

Report big_report(int ranks, int layers) {
  Report report;
  report.command = "preflight";
  report.source = "llama-2-70b";
  report.extra["preflight"] = {{"world_size", ranks}};
  for (int rank = 0; rank < ranks; ++rank) {
    for (int layer = 0; layer < layers; ++layer) {
      const std::string name = "transformer.h." + std::to_string(layer) + ".attn.attn.lora_ind";
      TensorRecord t;
      t.name = name;
      t.kind = TensorKind::NonpersistentBuffer;
      t.device = "meta";
      t.dtype = "int64";
      t.shape = {24576};
      t.numel = 24576;
      t.rank = rank;
      report.tensors.push_back(t);
      Finding f;
      f.code = "meta-nonpersistent-buffer";
      f.tensor = name;
      f.rank = rank;
      f.phase = "before-validation";
      f.message = "Non-persistent buffer " + name + " is on meta on rank " + std::to_string(rank) +
                  " at before-validation where its data is needed: created on meta at init; never recomputed.";
      f.hint = "recompute derived buffers on every rank after materialization";
      report.findings.push_back(f);
    }
  }
  Finding outlier = report.findings[3];
  outlier.phase = "before-forward";
  report.findings.push_back(outlier);
  return report;
}

}  // namespace

int main(int argc, char** argv) {
  const int ranks = argc > 1 ? std::atoi(argv[1]) : 64;
  const int layers = argc > 2 ? std::atoi(argv[2]) : 80;
  const int repeat = argc > 3 ? std::atoi(argv[3]) : 11;
  const Report report = big_report(ranks, layers);
  std::printf("%d ranks x %d layers: %zu findings, %zu tensors\n", ranks, layers, report.findings.size(),
              report.tensors.size());
  for (const char* format : {"text", "json", "md", "html", "junit"}) {
    auto renderer = make_renderer(format);
    std::vector<double> ms;
    size_t bytes = 0;
    for (int i = 0; i < repeat; ++i) {
      const auto start = std::chrono::steady_clock::now();
      const std::string out = renderer->render(report);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
      bytes = out.size();
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%-5s median %7.1f ms (%.1f-%.1f), %zu bytes\n", format, ms[ms.size() / 2], ms.front(), ms.back(), bytes);
  }
}
