#include <gtest/gtest.h>

#include <cmath>

#include <scoreflow/core/error.hpp>
#include <scoreflow/neural/fp_residual.hpp>

using namespace sf;

namespace {

// Under VP from N(μ, s₀² I): p_t = N(m(t)μ, v(t) I) with v = m²s₀² + std², so
// s(x, t) = −(x − m μ)/v exactly. `stretch` ≠ 1 scales v: a score that solves nothing.
BatchScoreFn gaussian_score(const LinearSde& sde, double mu, double s0, double stretch = 1) {
  return [=](const torch::Tensor& x, const torch::Tensor& t) {
    // Differentiable in t: the VP mean factor and std written with torch ops.
    const auto& sch = sde.schedule();
    const auto tt = t.to(torch::kFloat64).unsqueeze(1);
    const auto theta = 0.5 * (sch.lo * tt + 0.5 * (sch.hi - sch.lo) * tt * tt);
    const auto m = torch::exp(-theta);
    const auto v = stretch * (m * m * s0 * s0 + 1 - m * m);
    return -(x - m * mu) / v;
  };
}

torch::Tensor anchors(std::int64_t b, std::int64_t d) {
  return torch::linspace(-1.2, 1.5, b * d, torch::kFloat64).view({b, d});
}

}  // namespace

TEST(FpResidual, PointwiseResidualOfTheExactScoreIsZero) {
  const auto sde = LinearSde::by_name("vp");
  const auto x = anchors(6, 2);
  const auto t = torch::linspace(0.1, 0.9, 6, torch::kFloat64);
  const auto r = pointwise_fp_residual(gaussian_score(sde, 0.7, 0.4), sde, x, t);
  EXPECT_LT(r.abs().max().item<double>(), 1e-8);
  const auto wrong = pointwise_fp_residual(gaussian_score(sde, 0.7, 0.4, 1.3), sde, x, t);
  EXPECT_GT(wrong.abs().max().item<double>(), 0.1);
}

// The heat-ball residual vanishes for the exact score at every radius, within the Monte Carlo
// error of 40 independent repeats; for a non-solution it tends to the pointwise residual.
TEST(FpResidual, HeatBallResidualIsZeroForTheExactScoreAndTendsToPointwise) {
  const auto sde = LinearSde::by_name("vp");
  const auto x = anchors(3, 2);
  const auto t = torch::full({3}, 0.5, torch::kFloat64);
  const auto repeats = [&](const BatchScoreFn& s, double radius) {
    std::vector<torch::Tensor> rs;
    for (std::uint64_t k = 0; k < 40; ++k)
      rs.push_back(heat_ball_fp_residual(s, sde, x, t, {radius, 2000, 7, k}));
    const auto all = torch::stack(rs);
    return std::pair{all.mean(0), all.std(0) / std::sqrt(40.0)};
  };
  for (double radius : {0.3, 1.0}) {
    const auto [mean, se] = repeats(gaussian_score(sde, 0.7, 0.4), radius);
    EXPECT_TRUE((mean.abs() <= 4 * se).all().item<bool>()) << "R " << radius << "\n"
                                                           << mean << "\n"
                                                           << se;
  }
  const auto wrong = gaussian_score(sde, 0.7, 0.4, 1.3);
  const auto pw = pointwise_fp_residual(wrong, sde, x, t);
  const auto [small, se] = repeats(wrong, 0.05);
  // Antithetic pairs keep the error near 10⁻³ at R = 0.05; the O(R²) bias is below 1 %.
  EXPECT_LT(se.max().item<double>(), 0.01);
  EXPECT_TRUE(((small - pw).abs() <= 4 * se + 0.01 * pw.abs()).all().item<bool>()) << small << "\n"
                                                                                   << pw << "\n"
                                                                                   << se;
}

// A score with mixed second derivatives (not a solution of anything): Hutchinson's one-probe
// Laplacian, averaged over independent probes, matches the exact d² pass one within 4 SE,
// and the probes really vary (a zero-variance estimate would make this test vacuous).
TEST(FpResidual, HutchinsonLaplacianAveragesToTheExactOne) {
  const auto sde = LinearSde::by_name("vp");
  const std::int64_t d = 5;
  const auto w = torch::linspace(-0.8, 0.9, d * d, torch::kFloat64).view({d, d});
  const BatchScoreFn curved = [&](const torch::Tensor& x, const torch::Tensor& t) {
    return torch::sin(x.matmul(w)) * (1 + t.unsqueeze(1)) + x * x * x.roll(1, 1);
  };
  const auto x = anchors(4, d);
  const auto t = torch::linspace(0.2, 0.8, 4, torch::kFloat64);
  const auto exact = pointwise_fp_residual(curved, sde, x, t, {"exact", 0, 0});
  std::vector<torch::Tensor> rs;
  for (std::uint64_t k = 0; k < 400; ++k)
    rs.push_back(pointwise_fp_residual(curved, sde, x, t, {"hutchinson", 3, k}));
  const auto all = torch::stack(rs);
  const auto mean = all.mean(0), se = all.std(0) / std::sqrt(400.0);
  EXPECT_GT(se.min().item<double>(), 1e-3);
  EXPECT_TRUE(((mean - exact).abs() <= 4 * se).all().item<bool>()) << mean << "\n"
                                                                   << exact << "\n"
                                                                   << se;
  const auto auto_small = pointwise_fp_residual(curved, sde, x, t, {"auto", 3, 0});
  EXPECT_TRUE(torch::allclose(auto_small, exact));
  EXPECT_THROW(pointwise_fp_residual(curved, sde, x, t, {"trace", 0, 0}), InvalidArgument);
}

TEST(FpResidual, StdRateIsTheDerivativeOfStd) {
  for (const char* name : {"vp", "ve", "subvp"}) {
    const auto sde = LinearSde::by_name(name, 10);
    for (double t : {0.01, 0.3, 0.9}) {
      const double h = 1e-6, fd = (sde.std(t + h) - sde.std(t - h)) / (2 * h);
      EXPECT_NEAR(sde.std_rate(t), fd, 1e-6 * (1 + std::abs(fd))) << name << " t " << t;
    }
  }
}

// A network's score s = net/std(t) is differentiable in t, std(t) included: the residual's
// ∂s/∂t would otherwise miss −net·std'/std².
TEST(FpResidual, NetworkScoreIsDifferentiableInTime) {
  NetConfig cfg;
  cfg.dim = 2;
  cfg.hidden = {16, 16};
  cfg.cond = "fourier";
  cfg.sde = "vp";
  auto net = make_score_net(cfg, 3);
  net->to(torch::kFloat64);
  const auto x = anchors(5, 2);
  const auto t = torch::linspace(0.05, 0.9, 5, torch::kFloat64).requires_grad_(true);
  const auto w = torch::linspace(-1, 1, 10, torch::kFloat64).view({5, 2});
  const auto dt = torch::autograd::grad({(net->score(x, t) * w).sum()}, {t})[0];
  const double h = 1e-6;
  const auto fd =
      ((net->score(x, t.detach() + h) - net->score(x, t.detach() - h)) * w).sum(1) / (2 * h);
  EXPECT_TRUE(torch::allclose(dt, fd, 1e-5, 1e-6)) << dt << "\n" << fd;
}
