// Bad input to `metaguard train`: one "metaguard: error:" line naming the flag or file,
// exit 2, before any rank starts training, and no earlier checkpoint in --out is touched.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "integration/train_process.hpp"

namespace test = metaguard::test;
using nlohmann::json;

namespace {

void check_refused(const std::vector<std::string>& args, const std::string& expected) {
  test::TrainRun run = test::train(args, {}, 60);
  INFO(run.err);
  CHECK(run.exit_code == 2);
  CHECK(run.err.rfind("metaguard: error: ", 0) == 0);
  CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
  CHECK(run.err.find(expected) != std::string::npos);
  CHECK(run.err.find("[rank") == std::string::npos);  // no rank was started
  CHECK(run.out.empty());
}

std::string write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// Everything under `dir`, with contents: what must not change.
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) files[entry.path().string()] = test::slurp(entry.path().string());
  }
  return files;
}

}  // namespace

TEST_CASE("train input: bad data, sizes and flags are refused before any rank starts", "[train][input]") {
  test::RunDir dir;
  check_refused({"--data", dir.file("missing.txt")}, "--data '" + dir.file("missing.txt") + "': cannot read it");
  check_refused({"--data", write_file(dir.file("empty.txt"), "")}, "the file is empty");
  check_refused({"--data", write_file(dir.file("short.txt"), "far too short"), "--seq-len", "32"},
                "shorter than one training and one validation sequence");
  check_refused({"--nproc", "0"}, "--nproc 0: must be at least 1");
  check_refused({"--nproc", "2", "--global-batch", "5"}, "--global-batch 5: 2 ranks cannot split it");
  check_refused({"--nproc", "2", "--global-batch", "8", "--micro-batch", "3"}, "--micro-batch 3");
  check_refused({"--seq-len", "65"}, "--seq-len 65: longer than the model's block size 64");
  check_refused({"--on-meta", "ignore"}, "--on-meta 'ignore'");
  check_refused({"--inject", "skip-broadcast"}, "--inject skip-broadcast: needs several ranks");
  check_refused({"--inject", "partial-checkpoint", "--nproc", "2"}, "--inject partial-checkpoint: needs --checkpoint");
  check_refused({"--inject", "untie-on-materialize"}, "has no tied weights");
  check_refused({"--device", "tpu"}, "--device 'tpu': expected cpu, cuda or auto");
  check_refused({"--backend", "mpi"}, "--backend 'mpi': expected gloo, nccl or auto");
  check_refused({"--inject", "no-such-fault"}, "no-such-fault");
  check_refused({"--checkpoint", dir.file("base.pt")}, dir.file("base.pt"));
  check_refused({"--checkpoint", write_file(dir.file("junk.pt"), "not a checkpoint at all")}, dir.file("junk.pt"));
  check_refused({"--model", "no-such-model"}, "no-such-model");
}

TEST_CASE("train input: a port already in use is refused before any rank starts", "[train][input]") {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  const std::string port = std::to_string(ntohs(address.sin_port));
  check_refused({"--nproc", "2", "--master-port", port}, "--master-port " + port + ": the port is already in use");
  ::close(fd);
}

TEST_CASE("train input: --resume of another run, and --out holding a checkpoint, leave it untouched", "[train][input]") {
  test::RunDir dir;
  auto args = test::fast_args();
  args.insert(args.end(), {"--steps", "2", "--out", dir.path()});
  test::TrainRun first = test::train(args);
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  REQUIRE(std::filesystem::exists(dir.file("run.json")));
  const auto before = snapshot(dir.path());

  check_refused({"--model", "micro-tied", "--resume", dir.path(), "--out", dir.path()},
                "its checkpoint is of model 'micro', not of 'micro-tied'");
  check_refused({"--lora", "r=4", "--seq-len", "32", "--global-batch", "4", "--resume", dir.path()}, "--lora");
  check_refused({"--seq-len", "32", "--global-batch", "4", "--seed", "7", "--resume", dir.path()}, "--seed");
  check_refused({"--seq-len", "32", "--global-batch", "4", "--out", dir.path()}, "holds the checkpoint of an earlier run");
  check_refused({"--nproc", "2", "--global-batch", "5", "--out", dir.path(), "--resume", dir.path()}, "--global-batch 5");
  check_refused({"--resume", dir.file("rank0.json")}, "is not a directory");
  test::RunDir empty;
  check_refused({"--resume", empty.path()}, "holds no run.json");
  // A corrupt checkpoint file is refused up front too.
  {
    test::RunDir broken;
    std::filesystem::copy(dir.path(), broken.path(), std::filesystem::copy_options::recursive |
                                                         std::filesystem::copy_options::overwrite_existing);
    json state = test::read_json(broken.file("run.json"));
    write_file(broken.file(state["weights"].get<std::string>()), "not a checkpoint");
    check_refused({"--seq-len", "32", "--global-batch", "4", "--resume", broken.path()}, state["weights"].get<std::string>());
  }
  CHECK(snapshot(dir.path()) == before);
}

TEST_CASE("train input: CUDA and NCCL asked of a machine or build without them are refused naming the flag",
          "[train][input]") {
  // CI machines have no GPU; on one that has, these would run instead of being refused.
  auto gpus = test::run_process({"/bin/sh", "-c", "ls /dev/nvidia[0-9]* 2>/dev/null | wc -l"});
  if (std::stoi(gpus.out) > 0) {
    WARN("skipped: this machine has a GPU");
    return;
  }
  check_refused({"--device", "cuda"}, "--device cuda: LibTorch sees no CUDA device here");
  check_refused({"--nproc", "2", "--device", "cuda"}, "--device cuda: LibTorch sees no CUDA device here");
  const bool nccl = std::string(METAGUARD_BACKENDS).find("nccl") != std::string::npos;
  check_refused({"--backend", "nccl"}, nccl ? "--backend nccl: NCCL moves CUDA tensors only"
                                            : "--backend nccl: this metaguard was built without NCCL");
}
