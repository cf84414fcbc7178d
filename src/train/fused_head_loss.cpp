#include "train/fused_head_loss.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/errors.hpp"
#include "model/block.hpp"

namespace metaguard {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The logits of one chunk of rows go into a buffer kept from call to call, at most this big
// (pythia-14m's whole micro-batch: 512 x 50304 floats, 103 MB): a fresh buffer every step
// costs as much in page faults as the head's matmul does in arithmetic, and one matmul over
// many rows is faster than many over few (the weight is packed once per call).
constexpr int64_t kWorkspaceBytes = int64_t{128} << 20;
// Softmax runs over a few rows at a time, so that its passes (max, exp, sum, scale) find
// them in the core's cache.
constexpr int64_t kCacheBlockBytes = int64_t{1} << 20;

// hidden (N, E), weight (V, E), targets (N) -> {mean loss (scalar), per-token losses (N)}.
// The gradient is computed in the forward pass, chunk by chunk, and saved: softmax minus
// one-hot, times the weight (and, when the weight trains, its own gradient).
struct LinearCrossEntropy : public torch::autograd::Function<LinearCrossEntropy> {
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& hidden, const torch::Tensor& weight,
                               const torch::Tensor& targets, int64_t chunk_rows, torch::Tensor* workspace) {
    const int64_t rows = hidden.size(0);
    const int64_t vocab = weight.size(0);
    // Function::forward runs without grad mode; the inputs say what needs a gradient.
    const bool want_hidden = hidden.requires_grad();
    const bool want_weight = weight.requires_grad();
    torch::Tensor losses = torch::empty({rows}, hidden.options());
    torch::Tensor grad_hidden = want_hidden ? torch::empty_like(hidden) : torch::Tensor();
    torch::Tensor grad_weight = want_weight ? torch::zeros_like(weight) : torch::Tensor();
    // Sized here, from the weight as the head uses it: a sharded run's resting weight is a flat slice.
    const int64_t row_bytes = vocab * static_cast<int64_t>(hidden.element_size());
    const int64_t rows_that_fit = std::max<int64_t>(1, kWorkspaceBytes / std::max<int64_t>(1, row_bytes));
    const int64_t chunk = std::max<int64_t>(1, std::min(chunk_rows > 0 ? chunk_rows : rows_that_fit, rows));
    if (!workspace->defined() || workspace->numel() < chunk * vocab || workspace->dtype() != hidden.dtype() ||
        workspace->device() != hidden.device()) {
      *workspace = torch::empty({chunk * vocab}, hidden.options());
    }
    const int64_t block = std::max<int64_t>(1, kCacheBlockBytes / std::max<int64_t>(1, row_bytes));
    for (int64_t first = 0; first < rows; first += chunk) {
      const int64_t n = std::min(chunk, rows - first);
      torch::Tensor h = hidden.narrow(0, first, n);
      torch::Tensor logits = workspace->narrow(0, 0, n * vocab).view({n, vocab});
      torch::mm_out(logits, h, weight.t());
      for (int64_t row = 0; row < n; row += block) {
        const int64_t m = std::min(block, n - row);
        torch::Tensor part = logits.narrow(0, row, m);
        torch::Tensor t = targets.narrow(0, first + row, m).unsqueeze(1);
        torch::Tensor target_logit = part.gather(1, t);
        torch::Tensor max = part.amax(1, /*keepdim=*/true);
        torch::Tensor sum = part.sub_(max).exp_().sum(1, /*keepdim=*/true);  // exp(logit - max), in place
        // lse - target, with the two large terms subtracted first (less rounding in bf16).
        losses.narrow(0, first + row, m).copy_(((max - target_logit) + sum.log()).squeeze(1));
        if (!want_hidden && !want_weight) continue;
        part.mul_(sum.reciprocal());  // softmax
        part.scatter_add_(1, t, torch::full({m, 1}, -1.0, part.options()));
      }
      if (want_hidden) {
        torch::Tensor rows_grad = grad_hidden.narrow(0, first, n);
        torch::mm_out(rows_grad, logits, weight);
      }
      if (want_weight) grad_weight.addmm_(logits.t(), h);
    }
    // The mean's 1/N, after the matmuls (scaled before, 16-bit probabilities would underflow).
    const double scale = 1.0 / static_cast<double>(rows);
    if (want_hidden) grad_hidden.mul_(scale);
    if (want_weight) grad_weight.mul_(scale);
    ctx->save_for_backward({grad_hidden, grad_weight});
    torch::Tensor mean = losses.mean();
    ctx->mark_non_differentiable({losses});
    return {mean, losses};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    const torch::Tensor& g = grad_outputs[0];  // d(out)/d(mean loss): a scalar
    torch::Tensor grad_hidden = saved[0].defined() ? saved[0] * g : torch::Tensor();
    torch::Tensor grad_weight = saved[1].defined() ? saved[1] * g : torch::Tensor();
    return {grad_hidden, grad_weight, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

FusedHeadLoss::FusedHeadLoss(GPT& model, int64_t chunk_rows) : model_(model), chunk_rows_(chunk_rows) {
  DenseLayer& head = model_->lm_head;
  LinearImpl& base = head.base();
  const bool plain_adapter = !head.adapted || !head.adapted->has_adapter() || head.adapted->merged();
  // Soft-capped logits are not a plain matmul either.
  fused_ = plain_adapter && !base.bias.defined() && !model_->config().final_logit_softcapping;
  if (fused_) weight_ = base.weight;
}

std::pair<torch::Tensor, torch::Tensor> FusedHeadLoss::split(const torch::Tensor& tokens) {
  const int64_t steps = tokens.size(1) - 1;
  return {tokens.narrow(1, 0, steps), tokens.narrow(1, 1, steps)};
}

torch::Tensor FusedHeadLoss::per_sequence_mean(const torch::Tensor& per_token, const torch::Tensor& targets) {
  return per_token.detach().reshape(targets.sizes()).to(torch::kFloat64).mean(1);
}

torch::Tensor FusedHeadLoss::loss(const torch::Tensor& tokens, torch::Tensor* per_sequence) {
  auto [inputs, targets] = split(tokens);
  torch::Tensor per_token;
  torch::Tensor mean = loss_from_hidden(model_->hidden(inputs), targets, &per_token);
  if (per_sequence) *per_sequence = per_sequence_mean(per_token, targets);
  return mean;
}

torch::Tensor FusedHeadLoss::loss_from_hidden(const torch::Tensor& h, const torch::Tensor& targets,
                                              torch::Tensor* per_token) {
  torch::Tensor mean, losses;
  if (fused_) {
    // Under no_grad (validation) nothing needs a gradient: a frozen view of the weight.
    torch::Tensor weight = torch::GradMode::is_enabled() ? weight_ : weight_.detach();
    auto outputs = LinearCrossEntropy::apply(h.reshape({-1, h.size(-1)}), weight, targets.reshape({-1}), chunk_rows_, &workspace_);
    mean = outputs[0];
    losses = outputs[1];
  } else {
    torch::Tensor logits = model_->head(h);  // (B, T, V)
    losses = torch::nn::functional::cross_entropy(
        logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
    mean = losses.mean();
  }
  if (per_token) *per_token = losses;
  return mean;
}

}  // namespace metaguard
