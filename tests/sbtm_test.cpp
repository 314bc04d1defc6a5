// SBTM (MATH.md §3) on the analytic Gaussian case and its basic guarantees.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <scoreflow/diagnostics/kl.hpp>
#include <scoreflow/diagnostics/summary_stats.hpp>
#include <scoreflow/samplers/sbtm.hpp>
#include <scoreflow/targets/registry.hpp>

namespace sf {
namespace {

double gaussian_fit_kl_1d(const Particles& x) {
  return kl_gaussian(weighted_mean(x.rows()), weighted_cov(x.rows()), Eigen::VectorXd::Zero(1),
                     Eigen::MatrixXd::Identity(1, 1));
}

SbtmConfig analytic_config(std::shared_ptr<const Target> init, std::uint64_t seed) {
  SbtmConfig c;
  c.step_size = 0.002;
  c.seed = seed;
  c.initial = std::move(init);
  return c;
}

// f_0 = N(0, K(0.1)), π = N(0, 1): KL(f_t ‖ π) = ½(K − 1 − log K), K = 1 − e^{−2(t + 0.1)}.
TEST(Sbtm, AnalyticGaussianKlDecreasesAndTracksTheExactFlow) {
  const double k0 = -std::expm1(-0.2);
  const auto target = make_target("gauss:d=1");
  const std::shared_ptr<const Target> init = make_target("gauss:d=1,var=" + std::to_string(k0));
  const std::size_t n = 1000, steps = 500;
  Particles x(n, 1);
  init->sample(3, x.rows());
  Sbtm s(*target, analytic_config(init, 3));
  SamplerState st = s.init(std::move(x));
  std::vector<double> kl{gaussian_fit_kl_1d(st.x)};
  for (std::size_t k = 0; k < steps; ++k) {
    s.step(st);
    if (st.step % 50 == 0) kl.push_back(gaussian_fit_kl_1d(st.x));
  }
  for (std::size_t i = 1; i < kl.size(); ++i) EXPECT_LT(kl[i], kl[i - 1]) << "record " << i;
  // At t = 1 the exact flow has KL 0.5(K − 1 − log K) with K = 1 − e^{−2.2} ≈ 0.0064. The
  // particles' fitted moments carry the initial sample's error (relative sd √(2/n) ≈ 4.5% in
  // the variance): allow the exact value ± 0.01.
  const double kk = -std::expm1(-2.2), exact = 0.5 * (kk - 1 - std::log(kk));
  EXPECT_NEAR(kl.back(), exact, 0.01);
}

TEST(Sbtm, SameSeedAndParticlesGiveIdenticalTrajectories) {
  const auto target = make_target("gmm4");
  std::vector<Particles> finals;
  for (int r = 0; r < 2; ++r) {
    const std::shared_ptr<const Target> init = make_target("gauss:d=2");
    Particles x(300, 2);
    init->sample(5, x.rows());
    SbtmConfig c = analytic_config(init, 5);
    c.step_size = 0.01;
    c.hidden = {32, 32};
    c.init_max_steps = 200;
    Sbtm s(*target, c);
    SamplerState st = s.init(std::move(x));
    for (int k = 0; k < 15; ++k) s.step(st);
    finals.push_back(st.x);
  }
  EXPECT_EQ(finals[0].values(), finals[1].values());
}

// An Sbtm object holds no state between runs: init() starts from the seed again.
TEST(Sbtm, TheSameObjectRunsTwiceToTheSameNumbers) {
  const auto target = make_target("gmm4");
  const std::shared_ptr<const Target> init = make_target("gauss:d=2");
  SbtmConfig c = analytic_config(init, 4);
  c.step_size = 0.01;
  c.hidden = {32, 32};
  c.init_max_steps = 100;
  const Sbtm s(*target, c);
  Particles x0(200, 2);
  init->sample(4, x0.rows());
  std::vector<Particles> runs;
  for (int r = 0; r < 2; ++r) {
    SamplerState st = s.init(x0);
    for (int k = 0; k < 10; ++k) s.step(st);
    runs.push_back(st.x);
  }
  EXPECT_EQ(runs[0].values(), runs[1].values());
}

TEST(Sbtm, ResumeFromACheckpointContinuesBitIdentically) {
  const auto target = make_target("gmm4");
  const std::shared_ptr<const Target> init = make_target("gauss:d=2");
  const auto make = [&] {
    SbtmConfig c = analytic_config(init, 9);
    c.step_size = 0.01;
    c.hidden = {32, 32};
    c.init_max_steps = 100;
    return std::make_unique<Sbtm>(*target, c);
  };
  Particles x0(200, 2);
  init->sample(9, x0.rows());
  auto full = make();
  SamplerState a = full->init(x0);
  for (int k = 0; k < 20; ++k) full->step(a);
  auto first = make();
  SamplerState b = first->init(x0);
  for (int k = 0; k < 10; ++k) first->step(b);
  const auto dir = std::filesystem::temp_directory_path() / "sf_sbtm_resume";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  first->save_extra(dir.string());
  auto resumed = make();  // a fresh sampler: everything must come from the checkpoint
  SamplerState c = resumed->init(b.x, 10);
  resumed->load_extra(dir.string());
  for (int k = 0; k < 10; ++k) resumed->step(c);
  EXPECT_EQ(a.x.values(), c.x.values());
  std::filesystem::remove_all(dir);
}

TEST(Sbtm, AnnealingReachesTheTargetAtLambdaOne) {
  const auto target = make_target("gauss:d=2,mean=[2,-1]");
  for (const std::string path : {"geometric", "dilation"}) {
    const std::shared_ptr<const Target> init = make_target("gauss:d=2");
    Particles x(500, 2);
    init->sample(7, x.rows());
    SbtmConfig c = analytic_config(init, 7);
    c.step_size = 0.01;
    c.path = make_annealing_path(path);
    c.schedule = LinearSchedule{0.3, {}};
    c.total_steps = 600;
    c.hidden = {64, 64};
    c.init_max_steps = 500;
    Sbtm s(*target, c);
    SamplerState st = s.init(std::move(x));
    StepInfo last;
    for (std::size_t k = 0; k < c.total_steps; ++k) last = s.step(st);
    EXPECT_DOUBLE_EQ(last.lambda, 1.0) << path;
    // Mean within 4 standard errors (sd 1/√500 per coordinate, from the initial sample).
    const Eigen::VectorXd m = weighted_mean(st.x.rows());
    EXPECT_NEAR(m(0), 2.0, 4 / std::sqrt(500.0)) << path;
    EXPECT_NEAR(m(1), -1.0, 4 / std::sqrt(500.0)) << path;
  }
}

TEST(Sbtm, RejectsBadOptions) {
  const auto target = make_target("gauss:d=2");
  SbtmConfig c;
  EXPECT_THROW(sbtm_integrator_by_name("rk9"), InvalidArgument);
  c.loss = "mse";
  EXPECT_THROW(Sbtm(*target, c), InvalidArgument);
  c.loss = "ism";
  c.initial = make_target("gauss:d=3");
  EXPECT_THROW(Sbtm(*target, c), InvalidArgument);
}

}  // namespace
}  // namespace sf
