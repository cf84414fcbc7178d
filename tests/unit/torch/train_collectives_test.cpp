// The trainer's collectives for real, two ranks as two threads of this process (each with
// its own TCPStore connection and Gloo process group): the broadcast behind the shared
// init program, the cross-rank hash comparison, and a missing rank named within the timeout.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <future>
#include <map>
#include <thread>

#include <torch/torch.h>
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "model/gpt.hpp"
#include "program/init_program.hpp"
#include "support/paths.hpp"
#include "train/bounded_call.hpp"
#include "train/c10d_replicator.hpp"
#include "train/communicator.hpp"
#include "train/launcher.hpp"
#include "train/replica_comparison.hpp"
#include "train/store_read_timeout.hpp"

using namespace metaguard;

namespace {

DistEnv rank_env(int rank, int port) {
  DistEnv env;
  env.rank = rank;
  env.world_size = 2;
  env.local_rank = rank;
  env.local_world_size = 2;
  env.master_addr = "127.0.0.1";
  env.master_port = port;
  return env;
}

std::unique_ptr<RankSession> session_for(int rank, torch::Device device) {
  GPTConfig config = load_gpt_config(test::source_path("fixtures/models/micro.json"));
  GPT model = build_gpt(config, parse_lora_spec("r=4,alpha=8,targets=query+value"), BuildOptions{device, torch::kFloat32, 11});
  return std::make_unique<RankSession>(rank, model, /*dry_run=*/false, GuardConfig{});
}

// Runs `body(rank, communicator)` on two threads, one per rank.
template <typename Body>
void two_ranks(std::chrono::milliseconds timeout, Body body) {
  const int port = pick_free_port();
  auto run = [&](int rank) {
    Communicator communicator(rank_env(rank, port), timeout, RunPlacement{});
    body(rank, communicator);
  };
  auto zero = std::async(std::launch::async, run, 0);
  auto one = std::async(std::launch::async, run, 1);
  zero.get();
  one.get();
}

}  // namespace

TEST_CASE("train collectives: the c10d replicator fills rank 1's meta model with rank 0's values", "[train][c10d]") {
  auto rank0 = session_for(0, torch::kCPU);
  auto rank1 = session_for(1, torch::kMeta);
  std::vector<std::string> received;
  two_ranks(std::chrono::seconds(30), [&](int rank, Communicator& communicator) {
    C10dReplicator replicator(communicator, torch::kCPU);
    RankSession& session = rank == 0 ? *rank0 : *rank1;
    auto done = replicator.replicate(session, replicated_names(session));
    if (rank == 1) received = done;
  });
  rank1->guard().record("broadcast");
  REQUIRE_FALSE(received.empty());
  CHECK(received == replicated_names(*rank0));
  for (const auto& name : received) {
    CAPTURE(name);
    LiveTensor* from = rank0->walker().find(name);
    LiveTensor* to = rank1->walker().find(name);
    REQUIRE(to->tensor.device().is_cpu());
    CHECK(torch::equal(from->tensor, to->tensor));
    // Written behind autograd's back, yet known to be written: not "uninitialized".
    CHECK_FALSE(rank1->tracker().is_unwritten(to->tensor));
    bool noted = false;
    for (const auto& event : rank1->ledger().history(name)) noted = noted || event.event == "received";
    CHECK(noted);
  }
  // Derived buffers are not broadcast: they stay meta until each rank recomputes them.
  CHECK(rank1->walker().find("cos")->tensor.is_meta());
}

TEST_CASE("train collectives: a tensor still meta on rank 0 is not sent, and the ranks agree on that", "[train][c10d]") {
  auto rank0 = session_for(0, torch::kMeta);
  auto rank1 = session_for(1, torch::kMeta);
  // Rank 0 materializes everything but the embedding.
  InitPlan plan;
  plan.world_size = 2;
  plan.seed = 11;
  plan.offload = {"transformer.wte.weight"};
  run_init_step(*rank0, plan);
  std::vector<std::string> sent, received;
  two_ranks(std::chrono::seconds(30), [&](int rank, Communicator& communicator) {
    C10dReplicator replicator(communicator, torch::kCPU);
    RankSession& session = rank == 0 ? *rank0 : *rank1;
    (rank == 0 ? sent : received) = replicator.replicate(session, replicated_names(session));
  });
  CHECK(sent == received);
  CHECK(std::find(received.begin(), received.end(), "transformer.wte.weight") == received.end());
  CHECK(rank1->walker().find("transformer.wte.weight")->tensor.is_meta());
  CHECK_FALSE(rank1->walker().find("lm_head.linear.weight")->tensor.is_meta());
}

TEST_CASE("train collectives: one all-gather of hashes finds the divergent tensor on every rank", "[train][c10d]") {
  auto rank0 = session_for(0, torch::kCPU);
  auto rank1 = session_for(1, torch::kCPU);  // same seed: equal replicas
  {
    torch::NoGradGuard no_grad;
    rank1->walker().find("transformer.h.1.norm_2.weight")->tensor.add_(1e-3);
  }
  std::vector<ReplicaComparison> results(2);
  two_ranks(std::chrono::seconds(30), [&](int rank, Communicator& communicator) {
    results[static_cast<size_t>(rank)] = compare_replicas((rank == 0 ? rank0 : rank1)->walker(), communicator, 2);
  });
  for (const auto& result : results) {
    CHECK(result.divergent == std::vector<std::string>{"transformer.h.1.norm_2.weight"});
    REQUIRE(result.inventories.size() == 2);
  }
  // Rank 1's view of rank 0 lets RankDivergenceCheck name the tensor and both ranks.
  const auto& view = results[1].inventories;
  const TensorRecord* at0 = view[0].find("transformer.h.1.norm_2.weight");
  const TensorRecord* at1 = view[1].find("transformer.h.1.norm_2.weight");
  REQUIRE(at0->content_hash);
  REQUIRE(at1->content_hash);
  CHECK(*at0->content_hash != *at1->content_hash);
  CHECK(*view[0].find("transformer.wte.weight")->content_hash == *view[1].find("transformer.wte.weight")->content_hash);
}

TEST_CASE("train collectives: a rank that never arrives is named within the timeout", "[train][c10d]") {
  const int port = pick_free_port();
  std::promise<void> finished;
  auto absent = std::async(std::launch::async, [&] {
    // Connects and stays alive (heartbeat running) but never joins the collective.
    Communicator communicator(rank_env(1, port), std::chrono::seconds(30), RunPlacement{});
    finished.get_future().wait();
  });
  std::string message;
  std::vector<int> missing;
  double seconds = 0;
  {
    Communicator communicator(rank_env(0, port), std::chrono::milliseconds(1500), RunPlacement{});
    torch::Tensor value = torch::ones({4});
    auto start = std::chrono::steady_clock::now();
    try {
      communicator.all_reduce_sum(value, "test all-reduce");
    } catch (const CollectiveFailure& failure) {
      message = failure.what();
      missing = failure.missing();
    }
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    finished.set_value();
    absent.get();
  }
  INFO(message);
  CHECK(missing == std::vector<int>{1});
  CHECK(message.find("rank 1 is alive but never arrived") != std::string::npos);
  CHECK(message.find("test all-reduce") != std::string::npos);
  CHECK(seconds < 2 * 1.5 + 1);
}

namespace {

sockaddr_in ipv4_address(uint32_t host, int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(host);
  address.sin_port = htons(static_cast<uint16_t>(port));
  return address;
}

// A socket's receive timeout in ms (SO_RCVTIMEO; 0: none).
int64_t read_timeout_ms(int fd) {
  timeval timeout{};
  socklen_t size = sizeof(timeout);
  if (getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, &size) != 0) return -1;
  return static_cast<int64_t>(timeout.tv_sec) * 1000 + timeout.tv_usec / 1000;
}

int local_port(int fd) {
  sockaddr_in address{};
  socklen_t size = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  return ntohs(address.sin_port);
}

int peer_port(int fd) {
  sockaddr_in address{};
  socklen_t size = sizeof(address);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) return -1;
  return ntohs(address.sin_port);
}

}  // namespace

TEST_CASE("train collectives: the store rank 0 hosts gives up on a half-sent request, from connections accepted before or after",
          "[train][c10d]") {
  // A request half-sent when a link went down would stop LibTorch 1.13's store for every rank;
  // a receive timeout on its sockets lets the store drop that connection (store_read_timeout.hpp).
  const int port = pick_free_port();
  const int64_t expected_ms = 5000;  // a 10 s timeout: half of it
  std::promise<void> checked;
  auto peer = std::async(std::launch::async, [&] {
    Communicator communicator(rank_env(1, port), std::chrono::seconds(10), RunPlacement{});
    checked.get_future().wait();
  });
  {
    Communicator communicator(rank_env(0, port), std::chrono::seconds(10), RunPlacement{});
    // The listening socket and at least both ranks' main and side-channel connections (a
    // heartbeat connects from a thread of its own, maybe later).
    const std::vector<int> sockets = store_server_sockets(port);
    CHECK(sockets.size() >= 5);
    for (int fd : sockets) {
      CAPTURE(fd);
      CHECK(read_timeout_ms(fd) == expected_ms);
    }
    // A connection accepted from now on inherits the timeout from the listening socket.
    int client = ::socket(AF_INET, SOCK_STREAM, 0);
    const sockaddr_in address = ipv4_address(INADDR_LOOPBACK, port);
    REQUIRE(::connect(client, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0);
    int accepted = -1;
    for (int tries = 0; tries < 500 && accepted < 0; ++tries) {
      for (int fd : store_server_sockets(port)) {
        if (peer_port(fd) == local_port(client)) accepted = fd;
      }
      if (accepted < 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    REQUIRE(accepted >= 0);
    CHECK(read_timeout_ms(accepted) == expected_ms);
    // The client's own end (an ephemeral port, not the store's) keeps the default.
    CHECK(read_timeout_ms(client) == 0);
    ::close(client);
    checked.set_value();
    peer.get();
  }
}

TEST_CASE("train collectives: a port rank 0 cannot bind is bad input naming MASTER_PORT", "[train][c10d]") {
  const int port = pick_free_port();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const sockaddr_in address = ipv4_address(INADDR_ANY, port);
  REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0);
  REQUIRE(::listen(fd, 1) == 0);
  CHECK(port_in_use(port));
  CHECK_THROWS_WITH(Communicator(rank_env(0, port), std::chrono::seconds(5), RunPlacement{}),
                    Catch::Contains("MASTER_PORT " + std::to_string(port)));
  ::close(fd);
}

TEST_CASE("train collectives: under torchrun's agent store every rank is a client and a restart never reads the attempt before's keys",
          "[train][c10d][torchrun]") {
  const int port = pick_free_port();
  // The agent: a store served from this process on MASTER_PORT, as torchrun's elastic agent
  // serves one. A rank 0 that tried to host its own would find the port taken (InputError).
  c10d::TCPStoreOptions options;
  options.port = static_cast<uint16_t>(port);
  options.isServer = true;
  options.waitWorkers = false;
  options.timeout = std::chrono::seconds(30);
  auto agent = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", options);

  // attempt 0 posts rank 1's end-of-run result; attempt 1 (the group restarted) does not.
  auto attempt = [&](int restart, int rank) {
    DistEnv env = rank_env(rank, port);
    env.agent_store = true;
    env.run_id = "job-7";
    env.restart_count = restart;
    Communicator communicator(env, std::chrono::seconds(30), RunPlacement{});
    torch::Tensor value = torch::full({3}, rank + 1.0);
    communicator.all_reduce_sum(value, "test all-reduce");
    if (restart == 0 && rank == 1) communicator.post_result("from attempt 0");
    std::map<int, std::string> results;
    if (rank == 0) {
      // Attempt 1's rank 1 posts nothing and leaves: its heartbeat stops, and rank 0 stops
      // waiting for it long before the 30 s timeout.
      const auto start = std::chrono::steady_clock::now();
      results = communicator.collect_results({});
      if (restart == 1) CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(15));
    }
    return std::make_pair(value, results);
  };
  for (int restart : {0, 1}) {
    auto zero = std::async(std::launch::async, attempt, restart, 0);
    auto one = std::async(std::launch::async, attempt, restart, 1);
    auto [sum, results] = zero.get();
    one.get();
    CHECK(torch::equal(sum, torch::full({3}, 3.0)));
    if (restart == 0) {
      CHECK(results == std::map<int, std::string>{{1, "from attempt 0"}});
    } else {
      CHECK(results.empty());  // attempt 0's result is under another key
    }
  }
  // The keys carry the run id and the restart count.
  CHECK(agent->check({"metaguard/job-7/0/result/1"}));
  CHECK(agent->check({"metaguard/job-7/1/progress/0"}));
  CHECK_FALSE(agent->check({"metaguard/job-7/1/result/1"}));
}

TEST_CASE("train collectives: a peer that never joins the process group is named, and the rank is not torn down",
          "[train][c10d]") {
  // Rank 1 never starts: rank 0's connect fails after its timeout. The heartbeat thread is
  // already running then; it must be stopped, not abandoned (which would abort the process).
  const int port = pick_free_port();
  std::string message;
  std::vector<int> missing;
  try {
    Communicator communicator(rank_env(0, port), std::chrono::milliseconds(1500), RunPlacement{});
  } catch (const CollectiveFailure& failure) {
    message = failure.what();
    missing = failure.missing();
  }
  INFO(message);
  CHECK(missing == std::vector<int>{1});
  CHECK(message.find("connect the process group") != std::string::npos);
  CHECK(message.find("rank 1") != std::string::npos);
}

TEST_CASE("train collectives: a bounded call returns its result, rethrows its error, and gives up on one that never returns",
          "[train][c10d]") {
  CHECK(call_within(std::chrono::seconds(5), [] { return 42; }) == std::optional<int>(42));
  CHECK_THROWS_WITH(call_within(std::chrono::seconds(5), []() -> int { throw std::runtime_error("store said no"); }),
                    "store said no");
  // A call stuck for good (a store reply that never comes) is left behind, owning its state.
  auto never = std::make_shared<std::promise<void>>();
  const auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(call_within(std::chrono::milliseconds(100), [never] {
                never->get_future().wait_for(std::chrono::seconds(30));
                return 1;
              }).has_value());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  never->set_value();  // lets the stranded thread end before the test binary does
}
