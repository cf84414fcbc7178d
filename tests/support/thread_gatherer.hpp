#pragma once
// An all-gather between threads that play the ranks of one run (tests of the sharded code
// without processes): each thread sets ThreadGatherer::thread_rank() first.
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "program/sharded_tensors.hpp"

namespace metaguard::test {

// An all-gather between threads: each rank's call waits until every rank has put its
// piece in, copies all pieces out, and waits until all have copied before the next round.
class ThreadGatherer : public SliceGatherer {
 public:
  explicit ThreadGatherer(int world) : pieces_(world) {}

  void all_gather(const torch::Tensor& local, std::vector<torch::Tensor>& outputs, const std::string&) override {
    std::unique_lock<std::mutex> lock(mutex_);
    const int64_t round = round_;
    pieces_[arrived_++] = local;  // any order: pieces are matched to ranks below
    rank_of_piece_.push_back(rank_of_thread());
    if (arrived_ == static_cast<int>(pieces_.size())) changed_.notify_all();
    changed_.wait(lock, [&] { return arrived_ == static_cast<int>(pieces_.size()) || round_ != round; });
    for (size_t k = 0; k < pieces_.size(); ++k) outputs[rank_of_piece_[k]].copy_(pieces_[k]);
    if (++copied_ == static_cast<int>(pieces_.size())) {
      arrived_ = copied_ = 0;
      rank_of_piece_.clear();
      ++round_;
      changed_.notify_all();
    } else {
      changed_.wait(lock, [&] { return round_ != round; });
    }
  }

  static int& thread_rank() {
    thread_local int rank = 0;
    return rank;
  }

 private:
  static int rank_of_thread() { return thread_rank(); }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<torch::Tensor> pieces_;
  std::vector<int> rank_of_piece_;
  int arrived_ = 0;
  int copied_ = 0;
  int64_t round_ = 0;
};

}  // namespace metaguard::test
