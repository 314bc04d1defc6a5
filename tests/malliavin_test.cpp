// The Malliavin estimator (MATH.md §6, EXPERIMENTS.md E4) against exact answers: the
// discrete chain's integration by parts, Gaussian transitions of linear drifts, and
// finite-difference Fokker–Planck solutions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include <Eigen/Dense>

#include <scoreflow/core/parallel.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/malliavin/conditional_score.hpp>
#include <scoreflow/malliavin/malliavin_weights.hpp>
#include <scoreflow/sde/fokker_planck.hpp>
#include <scoreflow/sde/forward_sde.hpp>
#include "helpers.hpp"

namespace sf {
namespace {

using Mat = Eigen::MatrixXd;

// Uᵀξ − div_ξ U for the Euler chain F = X_K(ξ), U = Jᵀ(JJᵀ)⁻¹, from the full Jacobian and
// Hessian of F in the K·d normalised noises, propagated step by step (MATH.md §6).
std::vector<double> discrete_chain_weight(const ForwardSde& sde, const std::vector<double>& x0,
                                          const MalliavinOptions& opt, std::size_t path) {
  const std::size_t d = x0.size(), K = opt.steps, m = K * d;
  const double h = opt.horizon / static_cast<double>(K);
  std::vector<double> x = x0, xi(m), b(d), jac(d * d), hess(d * d * d);
  std::vector<Mat> hs(d, Mat::Zero(m, m));  // ∂²F_i/∂ξ∂ξ
  Mat g = Mat::Zero(d, m);                  // ∂F/∂ξ
  for (std::size_t k = 0; k < K; ++k) {
    const double t = h * static_cast<double>(k), sigma = sde.sigma(t);
    std::vector<double> z(d);
    fill_normals(opt.seed, Stream::malliavin, k, path, 1, d, z.data());
    sde.drift(x.data(), 1, d, t, b.data(), jac.data(), hess.data());
    std::vector<Mat> hn(d);
    for (std::size_t i = 0; i < d; ++i) {
      hn[i] = hs[i];
      for (std::size_t p = 0; p < d; ++p) {
        hn[i] += h * jac[i * d + p] * hs[p];
        for (std::size_t q = 0; q < d; ++q)
          hn[i] += h * hess[(i * d + p) * d + q] * g.row(p).transpose() * g.row(q);
      }
    }
    Mat jm(d, d);
    for (std::size_t i = 0; i < d; ++i)
      for (std::size_t j = 0; j < d; ++j) jm(i, j) = jac[i * d + j];
    g = g + h * jm * g;
    for (std::size_t i = 0; i < d; ++i) {
      g(i, k * d + i) += sigma * std::sqrt(h);
      xi[k * d + i] = z[i];
      x[i] += h * b[i] + sigma * std::sqrt(h) * z[i];
    }
    hs = hn;
  }
  const Mat a = (g * g.transpose()).inverse();
  const Eigen::Map<const Eigen::VectorXd> xv(xi.data(), static_cast<Eigen::Index>(m));
  std::vector<double> w(d);
  for (std::size_t i = 0; i < d; ++i) {
    double div = 0;
    for (std::size_t s = 0; s < m; ++s) {
      Mat dm(d, d);  // ∂_s (JJᵀ)
      for (std::size_t p = 0; p < d; ++p)
        for (std::size_t q = 0; q < d; ++q)
          dm(p, q) = hs[p].row(s).dot(g.row(q)) + g.row(p).dot(hs[q].row(s));
      const Mat da = -a * dm * a;
      for (std::size_t j = 0; j < d; ++j) div += hs[j](s, s) * a(j, i) + g(j, s) * da(j, i);
    }
    w[i] = (g.transpose() * a.col(static_cast<Eigen::Index>(i))).dot(xv) - div;
  }
  return w;
}

void expect_discrete_chain(const std::string& spec, const std::vector<double>& x0) {
  const auto sde = make_forward_sde(spec);
  MalliavinOptions opt;
  opt.horizon = 0.5;
  opt.steps = 6;
  opt.seed = 3;
  const Particles start = test::repeat_row(x0, 4);
  const auto out = malliavin_weights(*sde, start.rows(), opt);
  for (std::size_t p = 0; p < 4; ++p) {
    const auto w = discrete_chain_weight(*sde, x0, opt, p);
    for (std::size_t i = 0; i < x0.size(); ++i)
      EXPECT_NEAR(out.delta[0](p, i), w[i], 1e-9 * (1 + std::abs(w[i])))
          << spec << " path " << p << " coordinate " << i;
  }
}

TEST(MalliavinWeights, EqualTheDiscreteChainIntegrationByParts) {
  expect_discrete_chain("rational", {1.0});
  expect_discrete_chain("cubic:sigma=0.7", {0.4});
  expect_discrete_chain("nonlinear:a=0.5", {1.0, -0.3});  // time-dependent σ
  expect_discrete_chain("swirl:omega=1.5", {0.6, -0.4});  // full ∇b and ∇²b
  expect_discrete_chain("swirl:omega=0.5,sigma=0.8", {0.3, 0.5, -0.2});
  expect_discrete_chain("swirl", {0.3, 0.5, -0.2, 0.4});  // the dynamic-size kernel
}

// Linear drift: no correction, and δ = γ⁻¹(X_T − Y_T x0) is the Tweedie/DSM target of the
// Euler chain, whose transition is Gaussian with mean Y_T x0 and variance
// h Σ σ_k² (Y_T / Y_{k+1})² (per coordinate).
TEST(MalliavinWeights, LinearDriftGivesTheTweedieTarget) {
  for (const std::string spec : {"ou:theta=1.5,sigma=0.7", "vp", "ve:sigma_max=5"}) {
    const auto sde = make_forward_sde(spec);
    MalliavinOptions opt;
    opt.steps = 50;
    const double h = 1.0 / 50;
    std::vector<double> y(51, 1.0);  // Y_k per coordinate
    std::vector<double> b(1), jac(1);
    for (std::size_t k = 0; k < 50; ++k) {
      const double x = 1;
      sde->drift(&x, 1, 1, h * static_cast<double>(k), b.data(), jac.data(), nullptr);
      y[k + 1] = y[k] * (1 + h * jac[0]);
    }
    double var = 0;
    for (std::size_t k = 0; k < 50; ++k)
      var += h * std::pow(sde->sigma(h * static_cast<double>(k)) * y[50] / y[k + 1], 2);
    const std::vector<double> x0 = {0.8, -1.1};
    const auto out = malliavin_weights(*sde, test::repeat_row(x0, 20).rows(), opt);
    for (std::size_t p = 0; p < 20; ++p)
      for (std::size_t i = 0; i < 2; ++i) {
        const double tweedie = (out.x[0](p, i) - y[50] * x0[i]) / var;
        EXPECT_NEAR(out.delta[0](p, i), tweedie, 1e-9 * (1 + std::abs(tweedie))) << spec;
      }
  }
}

TEST(MalliavinWeights, AreTheSameForAnyThreadCount) {
  const auto sde = make_forward_sde("swirl");
  MalliavinOptions opt;
  opt.steps = 40;
  opt.snapshots = 4;
  const Particles start = test::repeat_row({0.3, -0.2}, 700);  // not a multiple of the block size
  set_thread_count(1);
  const auto one = malliavin_weights(*sde, start.rows(), opt);
  set_thread_count(2);
  const auto two = malliavin_weights(*sde, start.rows(), opt);
  for (std::size_t m = 0; m < 4; ++m)
    for (std::size_t k = 0; k < 1400; ++k) {
      ASSERT_EQ(one.delta[m].data()[k], two.delta[m].data()[k]);
      ASSERT_EQ(one.x[m].data()[k], two.x[m].data()[k]);
    }
  EXPECT_DOUBLE_EQ(one.times[1], 0.5);
}

// A snapshot at t equals a run with horizon t: the weight uses the path up to t only.
TEST(MalliavinWeights, SnapshotsEqualShorterRuns) {
  const auto sde = make_forward_sde("nonlinear");
  MalliavinOptions opt;
  opt.steps = 30;
  opt.snapshots = 3;
  const Particles start = test::repeat_row({0.5, 1.0}, 10);
  const auto all = malliavin_weights(*sde, start.rows(), opt);
  opt.steps = 10;
  opt.snapshots = 1;
  opt.horizon = 1.0 / 3;
  const auto first = malliavin_weights(*sde, start.rows(), opt);
  for (std::size_t k = 0; k < 20; ++k)
    EXPECT_NEAR(all.delta[0].data()[k], first.delta[0].data()[k], 1e-12);
}

TEST(MalliavinWeights, RejectBadInput) {
  const auto sde = make_forward_sde("cubic");
  MalliavinOptions opt;
  const Particles start = test::repeat_row({0.5}, 3);
  opt.steps = 10;
  opt.snapshots = 3;
  EXPECT_THROW(malliavin_weights(*sde, start.rows(), opt), InvalidArgument);
  opt.snapshots = 1;
  opt.horizon = -1;
  EXPECT_THROW(malliavin_weights(*sde, start.rows(), opt), InvalidArgument);
  opt.horizon = 1;
  Particles bad = start;
  bad(1, 0) = NAN;
  EXPECT_THROW(malliavin_weights(*sde, bad.rows(), opt), InvalidArgument);
  // −x³ with a coarse step from x0 = 50 diverges: the error names the path and step.
  opt.steps = 8;
  try {
    malliavin_weights(*sde, test::repeat_row({50.0}, 2).rows(), opt);
    FAIL() << "expected a NumericalError";
  } catch (const NumericalError& e) {
    EXPECT_NE(std::string(e.what()).find("at step"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_forward_sde("cubc"), InvalidArgument);
  EXPECT_THROW(make_forward_sde("cubic:theta=1"), InvalidArgument);
  EXPECT_THROW(make_forward_sde("ou:sigma=0"), InvalidArgument);
}
}  // namespace
}  // namespace sf
