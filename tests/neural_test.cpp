// Neural score models, losses, training and generation (LibTorch).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <Eigen/LU>

#include <scoreflow/core/torch_view.hpp>
#include <scoreflow/diagnostics/divergences.hpp>
#include <scoreflow/neural/generate.hpp>
#include <scoreflow/neural/losses.hpp>
#include <scoreflow/neural/score_net.hpp>
#include <scoreflow/neural/torchscript.hpp>
#include <scoreflow/neural/trainer.hpp>
#include <scoreflow/targets/gaussian_mixture.hpp>
#include "helpers.hpp"

namespace sf {
namespace {

NetConfig mlp(std::vector<std::int64_t> hidden, std::string act = "silu") {
  NetConfig c;
  c.dim = 2;
  c.hidden = std::move(hidden);
  c.activation = std::move(act);
  return c;
}

torch::Tensor draw_tensor(const std::string& spec, std::size_t n, std::uint64_t seed) {
  auto p = test::draw(spec, n, seed);
  return as_tensor(p).clone().to(torch::kFloat32);
}

TEST(ScoreNet, FusedDivergenceEqualsAutogradJacobianTrace) {
  torch::manual_seed(3);
  for (const std::string act : {"silu", "softsign"}) {
    auto c = mlp({16, 32, 32}, act);
    c.dim = 3;
    if (act == "softsign") c.cond = "sinusoidal";  // conditioned: time features enter too
    ResMlpImpl net(c);
    const auto x = torch::randn({7, 3});
    const auto t = torch::rand({7});
    auto [out, div] = net.net_and_divergence(x, t);
    const auto xg = x.clone().requires_grad_(true);
    const auto s = net.net(xg, t);
    const auto ref = divergence_autograd(s, xg);
    EXPECT_TRUE(torch::allclose(out, s, 1e-5, 1e-6)) << act;
    EXPECT_TRUE(torch::allclose(div, ref, 1e-4, 1e-5)) << act << div << ref;
    // and the full Jacobian trace from torch::autograd::functional-style rows
    double trace = 0;
    for (int i = 0; i < 3; ++i) {
      auto xi = x[0].clone().unsqueeze(0).requires_grad_(true);
      auto si = net.net(xi, t.slice(0, 0, 1));
      trace += torch::autograd::grad({si[0][i]}, {xi})[0][0][i].item<double>();
    }
    EXPECT_NEAR(div[0].item<double>(), trace, 1e-4);
  }
}

TEST(ScoreNet, FusedIsmLossMatchesAutogradLossAndGradients) {
  torch::manual_seed(4);
  ResMlpImpl net(mlp({32, 32}));
  const auto x = torch::randn({50, 2});
  const auto fused = ism_loss(net, x, true);
  const auto plain = ism_loss(net, x, false);
  EXPECT_NEAR(fused.item<double>(), plain.item<double>(), 1e-5);
  const auto gf = torch::autograd::grad({fused}, net.parameters());
  const auto gp = torch::autograd::grad({plain}, net.parameters());
  for (std::size_t i = 0; i < gf.size(); ++i)
    EXPECT_TRUE(torch::allclose(gf[i], gp[i], 1e-4, 1e-5)) << i;
}

TEST(ScoreNet, HutchinsonProbesAreUnbiasedForTheTrace) {
  torch::manual_seed(5);
  auto c = mlp({32, 32});
  c.dim = 4;
  ResMlpImpl net(c);
  const auto x = torch::randn({1, 4}).expand({20000, 4}).contiguous();
  auto [out, div] = net.net_and_divergence(x.slice(0, 0, 1), torch::zeros({1}));
  for (const bool gaussian : {false, true}) {
    const auto v = gaussian ? philox_normals(9, Stream::probes, 0, 20000, 4)
                            : philox_signs(9, Stream::probes, 0, 20000, 4);
    const auto xg = x.clone().requires_grad_(true);
    const auto s = net.net(xg, torch::zeros({20000}));
    const auto g = torch::autograd::grad({(s * v).sum()}, {xg})[0];
    const auto est = (g * v).sum(1).to(torch::kFloat64);
    const double se = est.std().item<double>() / std::sqrt(20000.0);
    EXPECT_NEAR(est.mean().item<double>(), div.item<double>(), 4 * se) << "gaussian=" << gaussian;
    EXPECT_GT(se, 0);
  }
}

// On Gaussian data N(μ, Σ) every loss has a known minimiser; train a small MLP and compare
// with it on fresh points. The tolerance (relative RMSE 0.1) covers 4,000 training points
// and 1,500 Adam steps; an untrained net is far outside it (checked below).
struct MinimiserCase {
  std::string loss;
  double sigma;  // dsm noise: the minimiser is the score of N(μ, Σ + σ²I)
};

class LossMinimiser : public testing::TestWithParam<MinimiserCase> {};

TEST_P(LossMinimiser, TrainedScoreMatchesTheExactScore) {
  const auto& pc = GetParam();
  const std::string spec = "gauss:mean=[1,-0.5],cov=[1.5,0.5,0.5,0.8]";
  const auto train = draw_tensor(spec, 4000, 1), heldout = draw_tensor(spec, 1000, 2),
             test = draw_tensor(spec, 2000, 3);
  const auto mu = torch::tensor({1.0f, -0.5f});
  const auto cov =
      torch::tensor({{1.5f, 0.5f}, {0.5f, 0.8f}}) + pc.sigma * pc.sigma * torch::eye(2);
  const auto exact = [&](const torch::Tensor& x) {
    return -torch::matmul(x - mu, torch::linalg::inv(cov));
  };
  torch::manual_seed(7);
  auto net = std::make_shared<ResMlpImpl>(mlp({64, 64}));
  TrainOptions o;
  o.loss = pc.loss;
  o.steps = 1500;
  o.batch = 256;
  o.lr = 3e-3;
  o.sigma = pc.sigma;
  o.eval_every = 500;
  Trainer tr(net, o, train, heldout, [&](const torch::Tensor& x) { return exact(x); });
  const auto rel_err = [&] {
    torch::NoGradGuard ng;
    const auto ref = exact(test);
    return std::sqrt(((net->score(test, torch::zeros({2000})) - ref).pow(2).sum(1).mean() /
                      ref.pow(2).sum(1).mean())
                         .item<double>());
  };
  EXPECT_GT(rel_err(), 0.3);  // untrained
  tr.run(o.steps);
  tr.finalize();
  EXPECT_LT(rel_err(), 0.1) << pc.loss;
}

INSTANTIATE_TEST_SUITE_P(Losses, LossMinimiser,
                         testing::Values(MinimiserCase{"esm", 0}, MinimiserCase{"ism", 0},
                                         MinimiserCase{"ism-hutchinson", 0},
                                         MinimiserCase{"ssm", 0}, MinimiserCase{"dsm", 0.5}),
                         [](const auto& param_info) {
                           std::string n = param_info.param.loss;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

class NoiseConditional : public testing::TestWithParam<std::string> {};

TEST_P(NoiseConditional, LearnsTheDiffusedGaussianScore) {
  const std::string spec = "gauss:mean=[1,-0.5],cov=[1.5,0.5,0.5,0.8]";
  const auto train = draw_tensor(spec, 4000, 1), heldout = draw_tensor(spec, 500, 2);
  auto c = mlp({128, 128, 128});
  c.cond = "fourier";
  c.fourier_scale = 4;
  c.sde = "vp";
  torch::manual_seed(8);
  auto net = std::make_shared<ResMlpImpl>(c);
  TrainOptions o;
  o.loss = GetParam();
  // 1,500 steps reach 0.085 or less for every loss (3,000 reached 0.064): half the time, the
  // same verdict.
  o.steps = 1500;
  o.lr = 2e-3;
  o.eval_every = 1000;
  Trainer tr(net, o, train, heldout);
  tr.run(o.steps);
  tr.finalize();
  const auto sde = LinearSde::by_name("vp");
  const auto gm = GaussianMixture(
      "exact",
      {{1.0, Eigen::Vector2d(1, -0.5), (Eigen::Matrix2d() << 1.5, 0.5, 0.5, 0.8).finished()}});
  const auto exact = diffused_mixture_score(gm, sde);
  torch::NoGradGuard ng;
  for (const double t : {0.1, 0.3, 0.6}) {
    const double m = sde.mean_coef(t), s = sde.std(t);
    const auto x =
        m * draw_tensor(spec, 2000, 11) + s * philox_normals(3, Stream::reference, 0, 2000, 2);
    const auto ref = exact(x, t);
    const auto got = net->score(x, torch::full({2000}, t));
    // Weighted like the loss: std(t)·score error relative to std(t)·|score| ≈ O(1).
    const double rel =
        std::sqrt(((got - ref).pow(2).sum(1).mean() / ref.pow(2).sum(1).mean()).item<double>());
    std::printf("%s t = %.1f: relative score error %.4f\n", GetParam().c_str(), t, rel);
    EXPECT_LT(rel, 0.15) << GetParam() << " t = " << t;
  }
}

INSTANTIATE_TEST_SUITE_P(Losses, NoiseConditional, testing::Values("nc-dsm", "nc-ism", "nc-ssm"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// The likelihood weighting by time sampling: d log(s²/m²)/dt = g²/s² on every linear SDE, so
// times uniform in log(s²/m²) weight the ε-loss by g²/s² (score loss by g²).
class TimeSampling : public testing::TestWithParam<std::string> {};

TEST_P(TimeSampling, LikelihoodTimesAreUniformInTheLogNoiseRatio) {
  const auto sde = LinearSde::by_name(GetParam());
  for (const double t : {0.01, 0.3, 0.9}) {
    const double h = 1e-6 * t;
    const double slope = (sde.log_noise_ratio(t + h) - sde.log_noise_ratio(t - h)) / (2 * h);
    EXPECT_NEAR(slope / (sde.g2(t) / std::pow(sde.std(t), 2)), 1.0, 1e-6) << "t = " << t;
    EXPECT_NEAR(sde.time_of_log_noise_ratio(sde.log_noise_ratio(t)), t, 1e-12);
  }
  auto c = mlp({8});
  c.cond = "fourier";
  c.sde = GetParam();
  auto net = std::make_shared<ResMlpImpl>(c);
  const std::int64_t n = 20000;
  LossBatch b;
  b.net = net.get();
  b.x = torch::zeros({n, 2});
  b.seed = 5;
  const double lo = sde.log_noise_ratio(sde.t_min()), hi = sde.log_noise_ratio(1.0);
  // Kolmogorov–Smirnov distance of each sampling's own uniform variable from U(0, 1);
  // 1.95/√n is its 0.1 % critical value.
  const auto ks = [&](bool likelihood) {
    b.likelihood_times = likelihood;
    const auto t = b.times().to(torch::kFloat64);
    std::vector<double> u(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      const double ti = t[i].item<double>();
      u[static_cast<std::size_t>(i)] = likelihood ? (sde.log_noise_ratio(ti) - lo) / (hi - lo)
                                                  : (ti - sde.t_min()) / (1 - sde.t_min());
    }
    std::sort(u.begin(), u.end());
    double d = 0;
    for (std::size_t i = 0; i < u.size(); ++i)
      d = std::max({d, std::abs(u[i] - double(i) / n), std::abs(u[i] - double(i + 1) / n)});
    return d;
  };
  const double critical = 1.95 / std::sqrt(double(n));
  EXPECT_LT(ks(true), critical);
  EXPECT_LT(ks(false), critical);
  // On VP and sub-VP likelihood times crowd towards small t; on VE σ(t) is geometric, g²/s² is
  // constant, and the two samplings coincide.
  b.likelihood_times = true;
  const double mean_likelihood = b.times().mean().item<double>();
  b.likelihood_times = false;
  const double mean_uniform = b.times().mean().item<double>();
  if (GetParam() == "ve")
    EXPECT_NEAR(mean_likelihood, mean_uniform, 1e-5);
  else
    EXPECT_LT(mean_likelihood, mean_uniform - 0.05);
}

INSTANTIATE_TEST_SUITE_P(Sdes, TimeSampling, testing::Values("vp", "ve", "subvp"));

TEST(Trainer, ResumeFromCheckpointGivesTheSameParameters) {
  const auto train = draw_tensor("gmm4", 2000, 1), heldout = draw_tensor("gmm4", 200, 2);
  TrainOptions o;
  o.loss = "dsm";
  o.steps = 60;
  o.batch = 64;
  o.eval_every = 20;
  const auto fresh = [&] {
    torch::manual_seed(5);
    return std::make_shared<ResMlpImpl>(mlp({32, 32}));
  };
  auto a = fresh();
  Trainer ta(a, o, train, heldout);
  ta.run(60);
  auto b = fresh();
  Trainer tb(b, o, train, heldout);
  tb.run(30);
  const auto dir = std::filesystem::temp_directory_path() / "sf_resume_ckpt";
  tb.save_checkpoint(dir);
  auto c = fresh();
  torch::manual_seed(99);  // a different init: everything must come from the checkpoint
  c = std::make_shared<ResMlpImpl>(mlp({32, 32}));
  Trainer tc(c, o, train, heldout);
  tc.load_checkpoint(dir);
  EXPECT_EQ(tc.step(), 30u);
  tc.run(60);
  const auto pa = a->parameters(), pc = c->parameters();
  for (std::size_t i = 0; i < pa.size(); ++i)
    EXPECT_TRUE(torch::equal(pa[i], pc[i]))
        << i << " max diff " << (pa[i] - pc[i]).abs().max().item<double>();
  ASSERT_EQ(ta.history().size(), tc.history().size());
  for (std::size_t i = 0; i < ta.history().size(); ++i)
    EXPECT_EQ(ta.history()[i].heldout_loss, tc.history()[i].heldout_loss);
  std::filesystem::remove_all(dir);
}

TEST(Trainer, TwoIdenticalRunsGiveIdenticalParameters) {
  const auto train = draw_tensor("gmm4", 2000, 1), heldout = draw_tensor("gmm4", 200, 2);
  TrainOptions o;
  o.steps = 60;
  o.batch = 64;
  o.eval_every = 20;
  std::vector<std::shared_ptr<ResMlpImpl>> nets;
  for (int r = 0; r < 2; ++r) {
    torch::manual_seed(5);
    nets.push_back(std::make_shared<ResMlpImpl>(mlp({32, 32})));
    Trainer t(nets.back(), o, train, heldout);
    t.run(60);
  }
  for (std::size_t i = 0; i < nets[0]->parameters().size(); ++i)
    EXPECT_TRUE(torch::equal(nets[0]->parameters()[i], nets[1]->parameters()[i])) << i;
}

TEST(Trainer, ThreadCountDoesNotChangeTheNumbers) {
  const auto train = draw_tensor("gmm4", 2000, 1), heldout = draw_tensor("gmm4", 200, 2);
  for (const std::string loss : {"dsm", "nc-dsm"}) {  // the fused and the LibTorch step
    TrainOptions o;
    o.loss = loss;
    o.steps = 40;
    o.batch = 128;
    o.eval_every = 20;
    std::vector<std::shared_ptr<ResMlpImpl>> nets;
    for (const int threads : {1, 2}) {
      torch::set_num_threads(threads);
      torch::manual_seed(5);
      auto c = mlp({64, 64});
      if (loss == "nc-dsm") c.cond = "fourier", c.sde = "vp";
      nets.push_back(std::make_shared<ResMlpImpl>(c));
      Trainer t(nets.back(), o, train, heldout);
      t.run(o.steps);
    }
    torch::set_num_threads(1);
    for (std::size_t i = 0; i < nets[0]->parameters().size(); ++i)
      EXPECT_TRUE(torch::equal(nets[0]->parameters()[i], nets[1]->parameters()[i]))
          << loss << " " << i;
  }
}

TEST(Trainer, EarlyStoppingKeepsTheBestHeldOutWeights) {
  // Twelve training points and a wide net overfit: the held-out loss turns upwards.
  const auto train = draw_tensor("gmm4", 12, 1), heldout = draw_tensor("gmm4", 500, 2);
  TrainOptions o;
  o.loss = "dsm";
  o.sigma = 0.3;
  o.steps = 4000;
  o.batch = 12;
  o.lr = 1e-2;
  o.schedule = "constant";
  o.ema = 0;
  o.eval_every = 20;
  o.patience = 5;
  torch::manual_seed(6);
  auto net = std::make_shared<ResMlpImpl>(mlp({256, 256}));
  Trainer t(net, o, train, heldout);
  EXPECT_FALSE(t.run(o.steps));  // stopped early
  EXPECT_LT(t.step(), o.steps);
  double best = INFINITY;
  for (const auto& r : t.history()) best = std::min(best, r.heldout_loss);
  EXPECT_GT(t.history().back().heldout_loss, best);
  t.finalize();
  EXPECT_DOUBLE_EQ(t.evaluate(heldout, 1u << 31, false), best);  // the best weights are back
}

TEST(Trainer, RejectsBadOptionsWithTheirNames) {
  const auto x = torch::randn({10, 2});
  TrainOptions o;
  o.loss = "mse";
  EXPECT_THROW(Trainer(std::make_shared<ResMlpImpl>(mlp({8})), o, x, x), InvalidArgument);
  o.loss = "dsm";
  o.lr = -1;
  try {
    Trainer(std::make_shared<ResMlpImpl>(mlp({8})), o, x, x);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("learning rate is -1"), std::string::npos) << e.what();
  }
  o.lr = 1e-3;
  EXPECT_THROW(Trainer(std::make_shared<ResMlpImpl>(mlp({8})), o, torch::randn({10, 3}), x),
               InvalidArgument);
  o.time_sampling = "importance";
  try {
    Trainer(std::make_shared<ResMlpImpl>(mlp({8})), o, x, x);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("'importance'; valid: uniform, likelihood"),
              std::string::npos)
        << e.what();
  }
}

// Generation with the exact score of a mixture: the energy distance to fresh exact draws
// must look like the distance between two exact samples (mean + 4 sd over 12 replicates).
class ExactScoreGeneration : public testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(ExactScoreGeneration, ReproducesTheMixture) {
  const auto [sde_name, sampler] = GetParam();
  const auto target = make_target("gmm4");
  const auto& gm = dynamic_cast<const GaussianMixture&>(*target);
  const auto sde = LinearSde::by_name(sde_name, 10);
  GenerateOptions o;
  o.sampler = sampler;
  o.steps = sampler == "ncsn" ? 100 : 500;
  o.seed = 4;
  const std::size_t n = 1500;
  const auto gen = to_particles(generate(sde, diffused_mixture_score(gm, sde), n, 2, o));
  const auto ref = test::draw("gmm4", n, 100);
  const double ed = energy_distance(gen.rows(), ref.rows());
  std::vector<double> null;
  for (std::uint64_t r = 0; r < 12; ++r)
    null.push_back(energy_distance(test::draw("gmm4", n, 200 + r).rows(),
                                   test::draw("gmm4", n, 300 + r).rows()));
  double mean = 0, var = 0;
  for (double v : null) mean += v / 12;
  for (double v : null) var += (v - mean) * (v - mean) / 11;
  EXPECT_LT(ed, mean + 4 * std::sqrt(var)) << sde_name << "/" << sampler << " null mean " << mean;
}

INSTANTIATE_TEST_SUITE_P(Samplers, ExactScoreGeneration,
                         testing::Values(std::pair{"vp", "euler"}, std::pair{"vp", "ode-heun"},
                                         std::pair{"subvp", "ode-rk4"}, std::pair{"ve", "pc"},
                                         std::pair{"vp", "pc"}, std::pair{"ve", "ncsn"}),
                         [](const auto& param_info) {
                           std::string n = param_info.param.first + "_" + param_info.param.second;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

TEST(Likelihood, ProbabilityFlowGivesTheExactMixtureLogDensity) {
  const auto target = make_target("gmm4");
  const auto& gm = dynamic_cast<const GaussianMixture&>(*target);
  auto x = test::draw("gmm4", 64, 5);
  for (const std::string name : {"vp", "ve"}) {
    const auto sde = LinearSde::by_name(name, 10);
    const DiffusedMixture dm(gm, sde);
    LikelihoodOptions o;
    o.exact_trace = true;
    o.steps = 200;
    o.log_prior = [&](const torch::Tensor& y) { return dm.log_density(y, 1.0); };
    const auto lp = log_likelihood(sde, diffused_mixture_score(gm, sde), as_tensor(x), o);
    const auto exact_t = dm.log_density(as_tensor(x), sde.t_min());
    for (std::size_t i = 0; i < x.n(); ++i) {
      const double exact = exact_t[static_cast<std::int64_t>(i)].item<double>();
      EXPECT_NEAR(lp[static_cast<std::int64_t>(i)].item<double>(), exact, 0.02)
          << name << " row " << i;
    }
    // Hutchinson is unbiased: its mean over rows matches the exact mean within 4 SE.
    o.exact_trace = false;
    const auto lh = log_likelihood(sde, diffused_mixture_score(gm, sde), as_tensor(x), o);
    const auto diff = (lh - lp);
    EXPECT_NEAR(diff.mean().item<double>(), 0, 4 * diff.std().item<double>() / 8 + 1e-3) << name;
  }
}

// Data N(μ, Σ) stay Gaussian under a linear SDE, p_t = N(m(t) μ, m(t)² Σ + s(t)² I), so the
// probability-flow log-likelihood with the exact score must equal log p_{t_min}(x) up to the
// ODE's error, and that error must fall as the RK4 steps rise. d = 256 is mnist256's size.
GaussianMixture correlated_gaussian(std::int64_t d) {
  Eigen::VectorXd mean(d);
  Eigen::MatrixXd a(d, 3);
  for (std::int64_t k = 0; k < d; ++k) {
    const auto u = static_cast<double>(k);
    mean[k] = 0.3 * std::sin(u);
    a(k, 0) = std::cos(0.1 * u), a(k, 1) = std::sin(0.37 * u), a(k, 2) = 0.5;
  }
  // A few strong directions over a small diagonal, like images: condition number ~ 10⁴.
  Eigen::MatrixXd cov = 0.3 * a * a.transpose() / 3;
  cov.diagonal().array() += 0.002;
  return GaussianMixture("gauss-data", {{1.0, mean, cov}});
}

double max_likelihood_error(const LinearSde& sde, const GaussianMixture& gm, const torch::Tensor& x,
                            std::size_t steps) {
  const DiffusedMixture dm(gm, sde);
  LikelihoodOptions o;
  o.exact_trace = true;
  o.steps = steps;
  o.log_prior = [&](const torch::Tensor& y) { return dm.log_density(y, 1.0); };
  const auto lp = log_likelihood(sde, diffused_mixture_score(gm, sde), x, o);
  return (lp - dm.log_density(x, sde.t_min())).abs().max().item<double>();
}

using SdeAndDim = std::pair<std::string, std::int64_t>;
class GaussianLikelihood : public testing::TestWithParam<SdeAndDim> {};

TEST_P(GaussianLikelihood, EqualsTheExactLogDensityAndConvergesInTheSteps) {
  const auto [name, d] = GetParam();
  const auto sde = LinearSde::by_name(name, 10);
  const auto gm = correlated_gaussian(d);
  Particles xp(6, static_cast<std::size_t>(d));
  gm.sample(21, xp.rows());
  const auto x = as_tensor(xp).clone();
  const double coarse = max_likelihood_error(sde, gm, x, 25);
  const double fine = max_likelihood_error(sde, gm, x, 100);
  std::printf("%s d=%ld: max |log-lik error| %.3g nats at 25 RK4 steps, %.3g at 100\n",
              name.c_str(), static_cast<long>(d), coarse, fine);
  // 1e-3 nats per dimension would be 1.4e-3 bits/dim: far below the 2-bit gap of issue 17.
  EXPECT_LT(fine, 1e-3 * static_cast<double>(d) + 1e-3);
  EXPECT_TRUE(fine < coarse || fine < 1e-4) << "the ODE error did not fall with the steps";
}

INSTANTIATE_TEST_SUITE_P(Sdes, GaussianLikelihood,
                         testing::Values(SdeAndDim{"vp", 2}, SdeAndDim{"ve", 2},
                                         SdeAndDim{"subvp", 2}, SdeAndDim{"vp", 256},
                                         SdeAndDim{"ve", 256}, SdeAndDim{"subvp", 256}),
                         [](const auto& info) {
                           return info.param.first + "_d" + std::to_string(info.param.second);
                         });

TEST(GaussianLikelihood, HutchinsonTraceIsUnbiasedInHighDimension) {
  const auto sde = LinearSde::by_name("vp");
  const auto gm = correlated_gaussian(256);
  const DiffusedMixture dm(gm, sde);
  Particles xp(16, 256);
  gm.sample(22, xp.rows());
  const auto x = as_tensor(xp).clone();
  LikelihoodOptions o;
  o.steps = 50;
  o.log_prior = [&](const torch::Tensor& y) { return dm.log_density(y, 1.0); };
  o.exact_trace = true;
  const auto exact = log_likelihood(sde, diffused_mixture_score(gm, sde), x, o);
  o.exact_trace = false;
  const auto diff = log_likelihood(sde, diffused_mixture_score(gm, sde), x, o) - exact;
  const double mean = diff.mean().item<double>(), se = diff.std().item<double>() / 4;
  std::printf("Hutchinson - exact trace: mean %.3g nats, SE %.3g (16 rows)\n", mean, se);
  EXPECT_LT(std::abs(mean), 4 * se);
}

}  // namespace
}  // namespace sf

namespace sf {
namespace {

TEST(TorchScript, ExportedModelGivesTheSameScoreWhenLoadedBack) {
  for (const std::string sde : {"vp", "subvp", "ve"}) {
    auto c = mlp({32, 32, 16}, sde == "ve" ? "softsign" : "silu");
    c.cond = "fourier";
    c.sde = sde;
    c.sigma_max = 10;
    torch::manual_seed(12);
    ResMlpImpl net(c);
    const auto path =
        (std::filesystem::temp_directory_path() / ("sf_export_" + sde + ".pt")).string();
    export_torchscript(net, path);
    const auto loaded = load_torchscript_score(path, 2);
    torch::NoGradGuard ng;
    const auto x = torch::randn({20, 2});
    for (const double t : {0.01, 0.4, 1.0}) {
      const auto ours = net.score(x, torch::full({20}, t));
      EXPECT_TRUE(torch::allclose(loaded(x, t), ours, 1e-4, 1e-5)) << sde << " t=" << t;
    }
    std::filesystem::remove(path);
  }
}

// A Gaussian base fitted to data N×d is the exact diffused score of N(mean, covariance) of
// that data at every t, before training: in the score, its divergence, its time derivative
// and the exported TorchScript module.
TEST(GaussianBase, IsTheExactDiffusedScoreOfTheDataGaussianInEveryForm) {
  const auto data = draw_tensor("gauss:mean=[1,-0.5],cov=[1.5,0.5,0.5,0.8]", 5000, 4);
  const auto xd = data.to(torch::kFloat64);
  const auto centred = xd - xd.mean(0);
  const auto cov = centred.t().mm(centred) / static_cast<double>(data.size(0));
  Eigen::Vector2d mu(xd.mean(0)[0].item<double>(), xd.mean(0)[1].item<double>());
  Eigen::Matrix2d sigma;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) sigma(i, j) = cov[i][j].item<double>();
  const GaussianMixture fitted("fitted", {{1.0, mu, sigma}});
  const auto x = 2 * torch::randn({50, 2}, torch::TensorOptions().dtype(torch::kFloat32));
  for (const std::string sde_name : {"vp", "subvp", "ve"}) {
    auto c = mlp({32, 32});
    c.cond = "fourier";
    c.sde = sde_name;
    c.sigma_max = 10;
    c.base = "gaussian";
    const auto net = make_score_net(c, 3);
    net->fit_gaussian_base(data);
    const auto sde = c.linear_sde();
    const DiffusedMixture exact(fitted, sde);
    const auto path =
        (std::filesystem::temp_directory_path() / ("sf_base_" + sde_name + ".pt")).string();
    export_torchscript(dynamic_cast<ResMlpImpl&>(*net), path);
    const auto loaded = load_torchscript_score(path, 2);
    for (const double t : {0.01, 0.4, 1.0}) {
      const auto ref = exact.score(x.to(torch::kFloat64), t);
      const auto tt = torch::full({50}, t);
      const auto got = net->score(x, tt).detach().to(torch::kFloat64);
      const auto scale = ref.abs().max().item<double>();
      EXPECT_LT((got - ref).abs().max().item<double>(), 1e-5 * scale) << sde_name << " t=" << t;
      const auto exported = loaded(x, t).detach().to(torch::kFloat64);
      EXPECT_LT((exported - ref).abs().max().item<double>(), 1e-5 * scale)
          << sde_name << " t=" << t;
      // Divergence of std·s_G: −std·tr((m²Σ + s²I)⁻¹), the same at every x.
      const double m = sde.mean_coef(t), s = sde.std(t);
      const Eigen::Matrix2d a = m * m * sigma + s * s * Eigen::Matrix2d::Identity();
      const double div_ref = -s * a.inverse().trace();
      const auto div = dynamic_cast<ResMlpImpl&>(*net).net_and_divergence(x, tt).second;
      EXPECT_LT((div.to(torch::kFloat64) - div_ref).abs().max().item<double>(),
                1e-5 * std::abs(div_ref))
          << sde_name << " t=" << t;
      if (t == 1.0) continue;
      // ∂s/∂t by autograd (the Fokker–Planck residual's) against central differences.
      const auto tg = tt.clone().requires_grad_(true);
      const auto ds_dt = torch::autograd::grad({net->score(x, tg).select(1, 0).sum()}, {tg})[0].to(
          torch::kFloat64);
      const double h = 1e-4 * t;
      const auto fd = (exact.score(x.to(torch::kFloat64), t + h).select(1, 0) -
                       exact.score(x.to(torch::kFloat64), t - h).select(1, 0)) /
                      (2 * h);
      EXPECT_LT((ds_dt - fd).abs().max().item<double>(), 1e-3 * fd.abs().max().item<double>())
          << sde_name << " t=" << t;
    }
  }
  auto c = mlp({8});
  c.base = "gaussian";
  EXPECT_THROW(c.validate(), InvalidArgument);  // a base needs a noise-conditional model
}

// Training data dequantised per batch: each value stays in its 8-bit bin, draws differ
// between steps and repeat for the same key.
TEST(Dequantise, EachKeyDrawsAfreshWithinTheSameBins) {
  const auto levels = torch::randint(0, 256, {64, 16}, torch::kInt64);
  const auto x = (levels.to(torch::kFloat32) / 127.5 - 1);
  const auto a = dequantise_8bit(x, 3, 0, Stream::dequantise);
  const auto b = dequantise_8bit(x, 3, 1, Stream::dequantise);
  EXPECT_TRUE(torch::equal(((a + 1) * 128).floor().to(torch::kInt64), levels));
  EXPECT_TRUE(torch::equal(((b + 1) * 128).floor().to(torch::kInt64), levels));
  EXPECT_FALSE(torch::equal(a, b));
  EXPECT_TRUE(torch::equal(a, dequantise_8bit(x, 3, 0, Stream::dequantise)));
}

TEST(TorchScript, LoadingRejectsFilesThatAreNotModels) {
  const auto path = (std::filesystem::temp_directory_path() / "sf_not_a_model.pt").string();
  { std::ofstream(path) << "not a zip archive"; }
  EXPECT_THROW(load_torchscript_score(path, 2), FormatError);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace sf

namespace sf {
namespace {

std::vector<float> flat_grads(const std::vector<torch::Tensor>& g) {
  std::vector<float> out;
  for (const auto& t : g) {
    const auto c = t.contiguous();
    out.insert(out.end(), c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  return out;
}

TEST(FusedMlp, GradientsEqualAutogradForDsmAndIsm) {
  for (const std::string act : {"silu", "softsign"}) {
    auto c = mlp({16, 32, 32}, act);
    c.dim = 3;
    torch::manual_seed(21);
    ResMlpImpl net(c);
    FusedMlpTrainer fused(net.fused_view());
    const std::int64_t b = 70;  // two uneven chunks
    const auto x = torch::randn({b, 3}), xi = torch::randn({b, 3});
    std::vector<float> g;
    const double l_dsm = fused.dsm_gradient(x.data_ptr<float>(), xi.data_ptr<float>(), b, 0.3, g);
    const auto ref_dsm = dsm_loss(net, x, xi, 0.3);
    EXPECT_NEAR(l_dsm, ref_dsm.item<double>(), 1e-5) << act;
    auto ref = flat_grads(torch::autograd::grad({ref_dsm}, net.parameters()));
    ASSERT_EQ(g.size(), ref.size());
    for (std::size_t i = 0; i < g.size(); ++i)
      ASSERT_NEAR(g[i], ref[i], 1e-5 + 1e-4 * std::abs(ref[i])) << act << " dsm " << i;
    const double l_ism = fused.ism_gradient(x.data_ptr<float>(), b, g);
    const auto ref_ism = ism_loss(net, x, false);  // autograd's double backward
    EXPECT_NEAR(l_ism, ref_ism.item<double>(), 1e-5) << act;
    ref = flat_grads(torch::autograd::grad({ref_ism}, net.parameters()));
    for (std::size_t i = 0; i < g.size(); ++i)
      ASSERT_NEAR(g[i], ref[i], 1e-5 + 1e-4 * std::abs(ref[i])) << act << " ism " << i;
  }
}

// The fused inference pass (chunks of 512 rows over the cores, buffers reused between calls)
// equals the LibTorch forward, for a batch with a partial last chunk and then a smaller one.
TEST(FusedMlp, ForwardEqualsLibTorch) {
  for (const std::string act : {"silu", "softsign"}) {
    auto c = mlp({32, 32, 32}, act);
    c.dim = 2;
    torch::manual_seed(5);
    ResMlpImpl net(c);
    const FusedMlpTrainer fused(net.fused_view());
    for (const std::int64_t n : {1300, 70}) {
      const auto x = torch::randn({n, 2});
      std::vector<float> out(static_cast<std::size_t>(n * 2));
      fused.forward(x.data_ptr<float>(), n, out.data());
      torch::NoGradGuard ng;
      const auto ref = net.net(x, torch::zeros({n})).contiguous();
      for (std::size_t i = 0; i < out.size(); ++i)
        ASSERT_NEAR(out[i], ref.data_ptr<float>()[i], 1e-5 + 1e-5 * std::abs(out[i]))
            << act << " n " << n << " entry " << i;
    }
  }
}

// A process's shard of the points gets the bits the whole set gets: cuts anywhere (not on a
// chunk or panel boundary), in 1-D (the output layer is a row) and 2-D.
TEST(FusedMlp, ForwardOnAPartEqualsTheWholeToTheBit) {
  for (const std::int64_t d : {1, 2}) {
    auto c = mlp({128, 128}, "softsign");
    c.dim = d;
    torch::manual_seed(9);
    ResMlpImpl net(c);
    const FusedMlpTrainer fused(net.fused_view());
    const std::int64_t n = 1301;
    const auto x = torch::randn({n, d});
    std::vector<float> whole(static_cast<std::size_t>(n * d));
    fused.forward(x.data_ptr<float>(), n, whole.data());
    for (const auto& [first, count] : std::vector<std::pair<std::int64_t, std::int64_t>>{
             {0, 150}, {150, 151}, {333, 334}, {517, 3}, {1, 1300}, {1000, 301}}) {
      std::vector<float> part(static_cast<std::size_t>(count * d));
      fused.forward(x.data_ptr<float>() + first * d, count, part.data(), first);
      for (std::int64_t i = 0; i < count * d; ++i)
        ASSERT_EQ(part[static_cast<std::size_t>(i)], whole[static_cast<std::size_t>(first * d + i)])
            << "d " << d << " rows [" << first << ", " << first + count << ") entry " << i;
    }
  }
}

// b's parameters set to a's: twin networks for comparing two ways of training.
void copy_parameters(ResMlpImpl& a, ResMlpImpl& b) {
  torch::NoGradGuard ng;
  for (std::size_t i = 0; i < a.parameters().size(); ++i)
    b.parameters()[i].copy_(a.parameters()[i]);
}

TEST(FusedMlp, AdamStepMatchesLibTorchAdam) {
  torch::manual_seed(22);
  ResMlpImpl a(mlp({32, 32})), b(mlp({32, 32}));
  copy_parameters(a, b);
  FusedMlpTrainer fused(b.fused_view());
  torch::optim::Adam opt(a.parameters(), torch::optim::AdamOptions(1e-2));
  AdamSettings s;
  s.lr = 1e-2;
  for (int step = 0; step < 5; ++step) {
    const auto x = torch::randn({64, 2}), xi = torch::randn({64, 2});
    opt.zero_grad();
    dsm_loss(a, x, xi, 0.2).backward();
    opt.step();
    fused.dsm_step(x.data_ptr<float>(), xi.data_ptr<float>(), 64, 0.2, s);
  }
  for (std::size_t i = 0; i < a.parameters().size(); ++i)
    EXPECT_TRUE(torch::allclose(a.parameters()[i], b.parameters()[i], 1e-4, 1e-5)) << i;
}

// The Adam update runs vectorised over each parameter block, split among the threads: with
// blocks whose sizes are not multiples of the vector width (widths 33), the split lands
// mid-vector on two threads and not on one; the numbers must not change.
TEST(FusedMlp, AdamStepIsTheSameForAnyThreadCount) {
  torch::manual_seed(24);
  ResMlpImpl a(mlp({33, 33})), b(mlp({33, 33}));
  copy_parameters(a, b);
  FusedMlpTrainer one(a.fused_view()), two(b.fused_view());
  AdamSettings s;
  s.lr = 1e-2, s.weight_decay = 1e-3;
  for (int step = 0; step < 3; ++step) {
    const auto g = torch::randn({static_cast<std::int64_t>(one.parameter_count())});
    const std::vector<float> grad(g.data_ptr<float>(), g.data_ptr<float>() + g.numel());
    torch::set_num_threads(1);
    one.apply_adam(grad, s);
    torch::set_num_threads(2);
    two.apply_adam(grad, s);
  }
  torch::set_num_threads(1);
  for (std::size_t i = 0; i < a.parameters().size(); ++i)
    EXPECT_TRUE(torch::equal(a.parameters()[i], b.parameters()[i])) << i;
}

// Data-parallel training sums the blocks' gradients and then steps Adam: a step taken that
// way equals the fused step on the whole batch to the bit.
TEST(FusedMlp, GradientThenAdamEqualsTheFusedStep) {
  torch::manual_seed(23);
  ResMlpImpl a(mlp({32, 32})), b(mlp({32, 32}));
  copy_parameters(a, b);
  FusedMlpTrainer whole(a.fused_view()), parts(b.fused_view());
  AdamSettings s;
  s.lr = 1e-2, s.weight_decay = 1e-3, s.decoupled = true;
  std::vector<float> g;
  for (int step = 0; step < 4; ++step) {
    const auto x = torch::randn({96, 2}), xi = torch::randn({96, 2});
    const double l1 = whole.dsm_step(x.data_ptr<float>(), xi.data_ptr<float>(), 96, 0.2, s);
    const double l2 = parts.dsm_gradient(x.data_ptr<float>(), xi.data_ptr<float>(), 96, 0.2, g);
    parts.apply_adam(g, s);
    EXPECT_EQ(l1, l2) << step;
  }
  for (std::size_t i = 0; i < a.parameters().size(); ++i)
    EXPECT_TRUE(torch::equal(a.parameters()[i], b.parameters()[i])) << i;
  EXPECT_THROW(parts.apply_adam(std::vector<float>(3), s), InvalidArgument);
}

// Gradient blocks through the fused step train the net as autograd's blocks do (float
// rounding apart), for DSM and ISM.
TEST(Trainer, FusedGradientBlocksAgreeWithAutogradBlocks) {
  const auto train = draw_tensor("gmm4", 1000, 1), heldout = draw_tensor("gmm4", 100, 2);
  for (const std::string loss : {"dsm", "ism"}) {
    TrainOptions o;
    o.loss = loss;
    o.steps = 10;
    o.batch = 90;
    o.eval_every = 10;
    o.ema = 0;
    o.grad_blocks = 3;
    std::vector<std::shared_ptr<ResMlpImpl>> nets;
    std::vector<double> losses;
    for (const bool fused : {true, false}) {
      o.fused = fused;
      torch::manual_seed(5);
      nets.push_back(std::make_shared<ResMlpImpl>(mlp({32, 32})));
      Trainer t(nets.back(), o, train, heldout);
      t.run(o.steps);
      losses.push_back(t.last_loss());
    }
    EXPECT_NEAR(losses[0], losses[1], 1e-4 * (1 + std::abs(losses[1]))) << loss;
    for (std::size_t i = 0; i < nets[0]->parameters().size(); ++i)
      EXPECT_TRUE(torch::allclose(nets[0]->parameters()[i], nets[1]->parameters()[i], 1e-3, 1e-4))
          << loss << " " << i;
  }
}

}  // namespace
}  // namespace sf

namespace sf {
namespace {

TEST(UNet, MapsImagesToImagesAndLearns) {
  NetConfig c;
  c.arch = "unet";
  c.dim = 256;
  c.hidden = {8};
  c.cond = "fourier";
  c.fourier_scale = 4;
  c.sde = "vp";
  auto net = make_score_net(c, 3);
  const auto x = torch::randn({5, 256});
  EXPECT_EQ(net->score(x, torch::full({5}, 0.5)).sizes(), (std::vector<std::int64_t>{5, 256}));
  // Smooth "images" (a random low-frequency pattern plus noise): 60 Adam steps must cut the
  // held-out noise-conditional DSM loss well below its value at initialisation.
  const auto grid = torch::linspace(-1, 1, 16);
  const auto base =
      (torch::sin(3 * grid).unsqueeze(1) * torch::cos(2 * grid).unsqueeze(0)).reshape({1, 256});
  const auto data = base + 0.1 * torch::randn({600, 256});
  TrainOptions o;
  o.loss = "nc-dsm";
  o.steps = 60;
  o.batch = 32;
  o.lr = 2e-3;
  o.eval_every = 60;
  o.ema = 0;
  Trainer t(net, o, data.slice(0, 0, 500), data.slice(0, 500, 600));
  const double before = t.evaluate(data.slice(0, 500, 600), 1u << 31, false);
  t.run(60);
  EXPECT_LT(t.history().back().heldout_loss, 0.7 * before);
}

}  // namespace

// Seeds are arguments: a network from make_score_net(cfg, seed) equals the one LibTorch's own
// initialisation gives after torch::manual_seed(seed), for the MLP and the U-Net, and no
// global generator is touched.
// A user's loss, registered by name, is trained by the same Trainer as the built-ins: here
// ½|s(x) − c|² with c = (1, −2), whose minimiser is the constant field c.
TEST(Losses, AUserLossIsTrainedByName) {
  loss_registry().add(
      {"test-constant", "", "match the constant field (1, -2)", {[](const LossBatch& b) {
         const auto c = torch::tensor({1.0f, -2.0f});
         const auto s = b.net->score(b.x, torch::zeros({b.x.size(0)}));
         return 0.5 * (s - c).pow(2).sum(1).mean();
       }}});
  NetConfig c;
  c.dim = 2;
  c.hidden = {16, 16};
  auto net = make_score_net(c, 2);
  TrainOptions o;
  o.loss = "test-constant";
  o.steps = 300;
  o.batch = 64;
  o.lr = 1e-2;
  o.eval_every = 100;
  const auto x = torch::randn({500, 2}, at::make_generator<at::CPUGeneratorImpl>(1));
  Trainer t(net, o, x, x.slice(0, 0, 100));
  t.run(o.steps);
  EXPECT_LT(t.history().back().heldout_loss, 1e-2);
  EXPECT_THROW(Trainer(
                   net,
                   [] {
                     TrainOptions bad;
                     bad.loss = "test-nope";
                     return bad;
                   }(),
                   x, x),
               InvalidArgument);
}

TEST(ScoreNet, SeededInitialisationNeedsNoGlobalState) {
  for (const std::string arch : {"mlp", "unet"}) {
    NetConfig c;
    c.arch = arch;
    c.dim = arch == "unet" ? 256 : 3;
    c.hidden = arch == "unet" ? std::vector<std::int64_t>{8} : std::vector<std::int64_t>{16, 16};
    c.cond = "fourier";
    c.sde = "vp";
    torch::manual_seed(17);
    const auto reference = arch == "unet"
                               ? std::shared_ptr<ScoreNetImpl>(std::make_shared<UNet16Impl>(c))
                               : std::shared_ptr<ScoreNetImpl>(std::make_shared<ResMlpImpl>(c));
    torch::manual_seed(1);
    const auto before = torch::rand({4});
    torch::manual_seed(1);
    const auto seeded = make_score_net(c, 17);
    EXPECT_TRUE(torch::equal(torch::rand({4}), before)) << arch << ": the global generator moved";
    const auto a = reference->parameters(), b = seeded->parameters();
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t k = 0; k < a.size(); ++k)
      EXPECT_TRUE(torch::equal(a[k], b[k])) << arch << " parameter " << k;
    EXPECT_FALSE(torch::equal(make_score_net(c, 18)->parameters()[0], b[0])) << arch;
  }
}

}  // namespace sf
