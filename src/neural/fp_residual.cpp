#include <scoreflow/neural/fp_residual.hpp>

#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/neural/trainer.hpp>
#include <scoreflow/score/heat_ball_source.hpp>

namespace sf {
namespace {

// ∂y/∂x, kept differentiable; zero where y does not depend on x (e.g. ∇²s of a linear s).
torch::Tensor grad_of(const torch::Tensor& y, const torch::Tensor& x) {
  const auto g = torch::autograd::grad({y}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true,
                                       /*allow_unused=*/true)[0];
  return g.defined() ? g : torch::zeros_like(x);
}

// J·v for y = f(x), J = ∂y/∂x, by two reverse passes (the second differentiates Jᵀu in u),
// kept differentiable; v has x's shape.
torch::Tensor jvp(const torch::Tensor& y, const torch::Tensor& x, const torch::Tensor& v) {
  const auto u = torch::zeros_like(y).requires_grad_(true);
  const auto jt_u = torch::autograd::grad({y}, {x}, {u}, /*retain_graph=*/true,
                                          /*create_graph=*/true, /*allow_unused=*/true)[0];
  if (!jt_u.defined()) return torch::zeros_like(y);
  const auto jv = torch::autograd::grad({jt_u}, {u}, {v}, /*retain_graph=*/true,
                                        /*create_graph=*/true, /*allow_unused=*/true)[0];
  return jv.defined() ? jv : torch::zeros_like(y);
}

// c(t) = −2a(t)/g²(t) per row, as a [B, 1] column.
torch::Tensor source_coef(const LinearSde& sde, const torch::Tensor& t, torch::ScalarType dtype) {
  return time_column(
      t, [&](double u) { return -2 * sde.drift_coef(u) / sde.g2(u); }, dtype);
}

// G(s) = ∇ₓ(|s|² + c x·s) at (x, t); x must require grad.
torch::Tensor source_term(const BatchScoreFn& score, const LinearSde& sde, const torch::Tensor& x,
                          const torch::Tensor& t) {
  const auto s = score(x, t);
  const auto phi =
      (s * s).sum(1) + source_coef(sde, t, x.scalar_type()).squeeze(1) * (x * s).sum(1);
  return grad_of(phi.sum(), x);
}

// Each draw followed by its mirror image z → −z (same ρ; κ and σ are symmetric in z). The
// pairs cancel the first-order term s(x ± √τ z) − s(x), whose variance would otherwise grow
// like 1/R² once divided by E_κ[τ] ∝ R².
KappaDraws antithetic(const KappaDraws& k) {
  const std::size_t m = k.rho.size(), n = k.n;
  KappaDraws out;
  out.n = n;
  out.z.reshape(2 * m, n);
  for (std::size_t j = 0; j < m; ++j) {
    for (std::size_t i = 0; i < n; ++i)
      out.z(2 * j, i) = k.z(j, i), out.z(2 * j + 1, i) = -k.z(j, i);
    for (int c = 0; c < 2; ++c) out.rho.push_back(k.rho[j]), out.e.push_back(k.e[j]);
  }
  return out;
}

// Points (y, s) of each anchor's heat ball for draws k (B·K rows, anchor-major), and each
// anchor's E_κ[τ].
struct BallPoints {
  torch::Tensor y, s, mass;
};
BallPoints ball_points(const KappaDraws& k, const LinearSde& sde, const torch::Tensor& x,
                       const torch::Tensor& t, double radius, std::int64_t draws) {
  const auto xd = x.detach().to(torch::kFloat64).contiguous();
  const auto td = t.detach().to(torch::kFloat64).contiguous();
  const std::int64_t b = x.size(0), d = x.size(1);
  auto y = torch::empty({b * draws, d}, torch::kFloat64);
  auto s = torch::empty({b * draws}, torch::kFloat64);
  auto mass = torch::empty({b, 1}, torch::kFloat64);
  const auto& sch = sde.schedule();
  const double theta_min = sch.theta(sde.t_min()),
               c = kappa_mean_tau_over_r2(static_cast<std::size_t>(d));
  const double* xp = xd.data_ptr<double>();
  for (std::int64_t a = 0; a < b; ++a) {
    const double ta = td.data_ptr<double>()[a], theta_t = sch.theta(ta);
    const double r =
        std::min(radius, std::sqrt(4 * std::numbers::pi * std::max(theta_t - theta_min, 0.0)));
    mass.data_ptr<double>()[a] = c * r * r;
    for (std::int64_t j = 0; j < draws; ++j) {
      const auto row = static_cast<std::size_t>(a * draws + j);
      const double tau = r * r / (4 * std::numbers::pi) * std::exp(-k.rho[row]);
      for (std::int64_t i = 0; i < d; ++i)
        y.data_ptr<double>()[row * static_cast<std::size_t>(d) + static_cast<std::size_t>(i)] =
            xp[a * d + i] + std::sqrt(tau) * k.z(row, static_cast<std::size_t>(i));
      s.data_ptr<double>()[row] = std::max(sch.time_of_theta(theta_t - tau), sde.t_min());
    }
  }
  return {y.to(x.scalar_type()), s.to(t.scalar_type()), mass.to(x.scalar_type())};
}

}  // namespace

torch::Tensor pointwise_fp_residual(const BatchScoreFn& score, const LinearSde& sde,
                                    const torch::Tensor& x, const torch::Tensor& t,
                                    const PointwiseResidualOptions& opt) {
  opt.validate();
  const auto xg = x.detach().requires_grad_(true);
  const auto tg = t.detach().requires_grad_(true);
  const auto s = score(xg, tg);
  const std::int64_t d = x.size(1);
  // s_θ = s_t / (g²/2)
  const auto to_theta = time_column(
      t, [&](double u) { return 2 / sde.g2(u); }, x.scalar_type());
  const auto s_theta = jvp(s, tg, torch::ones_like(tg)) * to_theta;
  const bool exact = opt.laplacian == "exact" || (opt.laplacian == "auto" && d <= 10);
  torch::Tensor lap;
  if (exact) {
    std::vector<torch::Tensor> cols;
    for (std::int64_t i = 0; i < d; ++i) {
      const auto ds_dx = grad_of(s.select(1, i).sum(), xg);
      auto li = torch::zeros_like(s.select(1, i));
      for (std::int64_t j = 0; j < d; ++j)
        li = li + grad_of(ds_dx.select(1, j).sum(), xg).select(1, j);
      cols.push_back(li);
    }
    lap = torch::stack(cols, 1);
  } else {
    const auto v =
        philox_signs(opt.seed, Stream::fp_probes, opt.step, x.size(0), d).to(x.scalar_type());
    lap = jvp(jvp(s, xg, v), xg, v);  // vᵀ(∇²sᵢ)v for every i
  }
  return s_theta - lap - source_term(score, sde, xg, tg);
}

torch::Tensor heat_ball_fp_residual(const BatchScoreFn& score, const LinearSde& sde,
                                    const torch::Tensor& x, const torch::Tensor& t,
                                    const HeatBallResidualOptions& opt) {
  opt.validate();
  if (sde.kind() == LinearSde::Kind::subvp)  // its schedule's θ is ½∫β, not ½∫g²
    throw InvalidArgument("heat-ball residual: the time change is implemented for ve and vp");
  const std::int64_t b = x.size(0), d = x.size(1), k = 2 * ((opt.draws + 1) / 2);
  const auto n = static_cast<std::size_t>(d);
  const auto half = static_cast<std::size_t>(b * k / 2);
  const std::size_t first = static_cast<std::size_t>(opt.step) * half;
  const KappaDraws kd = antithetic(kappa_sample(n, first, half, opt.seed));
  const KappaDraws sd = antithetic(source_sample(n, first, half, opt.seed + 1));
  const BallPoints kp = ball_points(kd, sde, x, t, opt.radius, k);
  const BallPoints sp = ball_points(sd, sde, x, t, opt.radius, k);
  const auto mean_s = score(kp.y, kp.s).view({b, k, d}).mean(1);
  const auto yg = sp.y.requires_grad_(true);
  const auto mean_g = source_term(score, sde, yg, sp.s).view({b, k, d}).mean(1);
  return (score(x, t) - mean_s - kp.mass * mean_g) / kp.mass;
}

void HeatBallResidualOptions::validate() const {
  check_positive_finite("heat-ball residual", "radius", radius);
  check_positive("heat-ball residual", "draws",
                 static_cast<std::size_t>(std::max<std::int64_t>(draws, 0)));
}

void PointwiseResidualOptions::validate() const {
  if (laplacian != "auto" && laplacian != "exact" && laplacian != "hutchinson")
    throw InvalidArgument(
        fmt::format("Laplacian '{}' is unknown; valid: {}", laplacian, valid_laplacians()));
}

void ResidualPenalty::validate() const {
  if (kind != "none" && kind != "fp" && kind != "heatball")
    throw InvalidArgument(
        fmt::format("residual penalty '{}' is unknown; valid: {}", kind, valid_kinds()));
  check_in_range("residual penalty", "weight", weight, 0, 1e12);
  check_positive("residual penalty", "anchors",
                 static_cast<std::size_t>(std::max<std::int64_t>(anchors, 0)));
  if (kind == "heatball") ball.validate();
  if (kind == "fp") pointwise.validate();
}

torch::Tensor ResidualPenalty::operator()(ScoreNetImpl& net, const torch::Tensor& xt,
                                          const torch::Tensor& t, std::uint64_t seed,
                                          std::uint64_t step) const {
  const auto sde = net.config().linear_sde();
  const auto x = xt.detach().slice(0, 0, anchors), tt = t.slice(0, 0, anchors);
  const BatchScoreFn score = [&](const torch::Tensor& y, const torch::Tensor& u) {
    return net.score(y, u);
  };
  torch::Tensor r;
  if (kind == "fp") {
    PointwiseResidualOptions o = pointwise;
    o.seed = seed;
    o.step = step;
    r = pointwise_fp_residual(score, sde, x, tt, o);
  } else {
    HeatBallResidualOptions o = ball;
    o.seed = seed;
    o.step = step;
    r = heat_ball_fp_residual(score, sde, x, tt, o);
  }
  const auto sd = time_column(
      tt, [&](double u) { return sde.std(u); }, xt.scalar_type());
  return weight * (sd.pow(6) * r.pow(2)).mean();
}

}  // namespace sf
