#include "train/fused_head_loss.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include "core/errors.hpp"
#include "model/block.hpp"

namespace metaguard {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// hidden (N, E), weight (V, E), targets (N) -> {mean loss (scalar), per-token losses (N)}.
// The gradient is computed in the forward pass, chunk by chunk, and saved: softmax minus
// one-hot, times the weight (and, when the weight trains, its own gradient).
struct LinearCrossEntropy : public torch::autograd::Function<LinearCrossEntropy> {
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& hidden, const torch::Tensor& weight,
                               const torch::Tensor& targets, int64_t chunk_rows) {
    const int64_t rows = hidden.size(0);
    // Function::forward runs without grad mode; the inputs say what needs a gradient.
    const bool want_hidden = hidden.requires_grad();
    const bool want_weight = weight.requires_grad();
    torch::Tensor losses = torch::empty({rows}, hidden.options());
    torch::Tensor grad_hidden = want_hidden ? torch::empty_like(hidden) : torch::Tensor();
    torch::Tensor grad_weight = want_weight ? torch::zeros_like(weight) : torch::Tensor();
    for (int64_t first = 0; first < rows; first += chunk_rows) {
      const int64_t n = std::min(chunk_rows, rows - first);
      torch::Tensor h = hidden.narrow(0, first, n);
      torch::Tensor t = targets.narrow(0, first, n).unsqueeze(1);
      torch::Tensor logits = torch::matmul(h, weight.t());  // (n, V)
      torch::Tensor lse = logits.logsumexp(1, /*keepdim=*/true);
      losses.narrow(0, first, n).copy_((lse - logits.gather(1, t)).squeeze(1));
      if (!want_hidden && !want_weight) continue;
      torch::Tensor probabilities = logits.sub_(lse).exp_();  // softmax, in place of the logits
      probabilities.scatter_add_(1, t, torch::full({n, 1}, -1.0, probabilities.options()));
      if (want_hidden) grad_hidden.narrow(0, first, n).copy_(torch::matmul(probabilities, weight));
      if (want_weight) grad_weight.add_(torch::matmul(probabilities.t(), h));
    }
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
    return {grad_hidden, grad_weight, torch::Tensor(), torch::Tensor()};
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
    auto outputs = LinearCrossEntropy::apply(h.reshape({-1, h.size(-1)}), weight, targets.reshape({-1}), chunk_rows_);
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
