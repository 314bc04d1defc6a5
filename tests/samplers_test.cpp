#include <gtest/gtest.h>

#include <cmath>

#include <scoreflow/core/error.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/diagnostics/summary_stats.hpp>
#include <scoreflow/samplers/langevin.hpp>
#include <scoreflow/targets/gaussian.hpp>
#include <scoreflow/targets/registry.hpp>
#include "helpers.hpp"

using namespace sf;
using sf::test::draw;

namespace {

SamplerState run_steps(const Sampler& s, Particles x0, std::size_t steps) {
  SamplerState st = s.init(std::move(x0));
  run(s, st, steps, {});
  return st;
}

}  // namespace

TEST(Ula, ReachesTheBiasedStationaryVariance) {
  // ULA on N(0, σ²) is an AR(1) chain with stationary variance σ²/(1 − h/(2σ²)).
  const double s2 = 2.0, h = 0.4;
  const auto t = make_target("gauss:d=1,var=2");
  const Ula ula(*t, {h, 3});
  const std::size_t n = 200000;
  const auto st = run_steps(ula, draw("gauss:d=1", n, 1), 300);  // (1 − h/σ²)^300 ≈ 1e-29
  const double v = weighted_cov(st.x.rows())(0, 0);
  const double expected = s2 / (1 - h / (2 * s2));
  const double se = expected * std::sqrt(2.0 / static_cast<double>(n));
  EXPECT_NEAR(v, expected, 4 * se);
  EXPECT_GT(std::abs(v - s2), 10 * se);  // the bias is resolved: the test can tell ULA from exact
  EXPECT_NEAR(weighted_mean(st.x.rows())(0), 0.0, 4 * std::sqrt(expected / static_cast<double>(n)));
}

TEST(Mala, MatchesMeanAndCovarianceWithinFourStandardErrors) {
  const auto t = make_target("gauss:d=2,mean=[1,-2],cov=[1,0.6,0.6,2]");
  const auto& g = dynamic_cast<const Gaussian&>(*t);
  const Mala mala(*t, {0.5, 4});
  const std::size_t n = 40000;
  SamplerState st = mala.init(draw("gauss:d=2", n, 2));
  double acc = 0;
  for (int k = 0; k < 400; ++k) acc += mala.step(st).acceptance;
  acc /= 400;
  EXPECT_GT(acc, 0.3);
  EXPECT_LT(acc, 0.99);
  const Eigen::VectorXd m = weighted_mean(st.x.rows());
  const Eigen::MatrixXd c = weighted_cov(st.x.rows());
  const double nn = static_cast<double>(n);
  for (int k = 0; k < 2; ++k) {
    EXPECT_NEAR(m(k), g.mean()(k), 4 * std::sqrt(g.cov()(k, k) / nn));
    for (int l = 0; l < 2; ++l) {
      // Var of the product estimate: (Σ_kk Σ_ll + Σ_kl²)/n.
      const double se =
          std::sqrt((g.cov()(k, k) * g.cov()(l, l) + g.cov()(k, l) * g.cov()(k, l)) / nn);
      EXPECT_NEAR(c(k, l), g.cov()(k, l), 4 * se) << k << "," << l;
    }
  }
  // ULA with the same step is visibly biased, so the MALA check has power.
  const Ula ula(*t, {0.5, 4});
  const auto su = run_steps(ula, draw("gauss:d=2", n, 2), 400);
  EXPECT_GT(std::abs(weighted_cov(su.x.rows())(0, 0) - 1.0), 10 * std::sqrt(2.0 / nn));
}

TEST(Samplers, SameNumbersForAnyThreadCount) {
  const auto t = make_target("gmm-grid16");
  for (const std::string name : {"ula", "mala", "annealed"}) {
    std::unique_ptr<Sampler> s;
    if (name == "ula") s = std::make_unique<Ula>(*t, LangevinConfig{0.05, 9});
    if (name == "mala") s = std::make_unique<Mala>(*t, LangevinConfig{0.05, 9});
    if (name == "annealed")
      s = std::make_unique<AnnealedUla>(*t, AnnealedConfig{.langevin = {0.05, 9},
                                                           .path = make_annealing_path("dilation"),
                                                           .total_steps = 50});
    set_thread_count(1);
    const auto a = run_steps(*s, draw("gauss:d=2", 3001, 1), 50);
    set_thread_count(2);
    const auto b = run_steps(*s, draw("gauss:d=2", 3001, 1), 50);
    EXPECT_EQ(a.x.values(), b.x.values()) << name;
  }
}

TEST(Samplers, ResumingFromAnIntermediateStateIsBitIdentical) {
  const auto t = make_target("banana");
  const Mala mala(*t, {0.05, 5});
  const auto full = run_steps(mala, draw("gauss:d=2", 500, 1), 60);
  auto half = run_steps(mala, draw("gauss:d=2", 500, 1), 30);
  SamplerState resumed = mala.init(half.x, 30);
  run(mala, resumed, 60, {});
  EXPECT_EQ(full.x.values(), resumed.x.values());
}

TEST(Samplers, NonFiniteParticlesStopWithStepAndHint) {
  const auto t = make_target("gauss:d=2,var=0.01");
  const Ula ula(*t, {5.0, 1});  // h ≫ 2σ²: the chain diverges geometrically
  SamplerState st = ula.init(draw("gauss:d=2", 10, 1));
  try {
    run(ula, st, 100000, {});
    FAIL() << "expected divergence";
  } catch (const NumericalError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("blew up at step"), std::string::npos) << msg;
    EXPECT_NE(msg.find("smaller --step-size"), std::string::npos) << msg;
  }
  // Caught while the particles are still finite: x grows 499-fold a step, so 1e8 times the
  // starting scale is passed within four steps, long before overflow (~110 steps).
  EXPECT_LE(st.step, 4u);
  EXPECT_EQ(first_non_finite(st.x.rows()), st.x.n());
}

// The vectorised scan behind the per-step divergence check agrees with a plain one.
TEST(Samplers, LargestMagnitudeIsExactAndSeesEveryNonFiniteValue) {
  std::vector<double> v = {-0.0, 3.5, -7.25, 1e-310, -1e300, 2.0};
  EXPECT_EQ(largest_magnitude(v), 1e300);
  EXPECT_EQ(largest_magnitude(std::span<const double>(v).first(4)), 7.25);
  EXPECT_EQ(largest_magnitude(std::span<const double>(v).first(1)), 0.0);
  EXPECT_EQ(largest_magnitude({}), 0.0);
  for (const double bad : {INFINITY, -INFINITY, NAN, -NAN}) {
    for (std::size_t at : {0u, 3u, 5u}) {
      auto w = v;
      w[at] = bad;
      EXPECT_EQ(largest_magnitude(w), INFINITY) << bad << " at " << at;
      EXPECT_EQ(first_non_finite({w.data(), 3, 2}), at / 2);
    }
  }
  EXPECT_EQ(first_non_finite({v.data(), 3, 2}), 3u);
}

// A step size that is stable stays far from the blow-up limit even from a distant start.
TEST(Samplers, AStableRunFromFarAwayIsNotMistakenForABlowUp) {
  const auto t = make_target("gauss:d=2");
  const Ula ula(*t, {0.1, 1});
  SamplerState st = ula.init(draw("gauss:d=2,mean=[1e6,-1e6]", 10, 1));
  EXPECT_NO_THROW(run(ula, st, 200, {}));
}

TEST(Samplers, BadConfigurationIsRejected) {
  const auto t = make_target("gauss:d=2");
  EXPECT_THROW(Ula(*t, {0.0, 1}), InvalidArgument);
  EXPECT_THROW(Mala(*t, {-1.0, 1}), InvalidArgument);
  EXPECT_THROW(Ula(*t, {NAN, 1}), InvalidArgument);
  EXPECT_THROW(make_annealing_path("linear"), InvalidArgument);
  EXPECT_THROW(
      AnnealedUla(*t, AnnealedConfig{.langevin = {0.1, 1}, .path = nullptr, .total_steps = 10}),
      InvalidArgument);
  const Ula ula(*t, {0.1, 1});
  EXPECT_THROW(ula.init(Particles(5, 3)), InvalidArgument);
  EXPECT_THROW(ula.init(Particles(0, 2)), InvalidArgument);
}

class Observe : public Observer {
 public:
  bool on_step(const SamplerState& s, const StepInfo& info) override {
    lambdas.push_back(info.lambda);
    return s.step < 7;  // stop early
  }
  std::vector<double> lambdas;
};

TEST(AnnealedUla, LambdaRisesToOneAndObserversCanStop) {
  const auto t = make_target("gmm4");
  const AnnealedUla a(
      *t, AnnealedConfig{
              .langevin = {0.01, 1}, .schedule = LinearSchedule{0.5, {}}, .total_steps = 10});
  SamplerState st = a.init(draw("gauss:d=2", 10, 1));
  Observe o;
  std::vector<Observer*> obs{&o};
  const auto r = run(a, st, 10, obs);
  EXPECT_TRUE(r.stopped_early);
  EXPECT_EQ(st.step, 7u);
  EXPECT_DOUBLE_EQ(o.lambdas[0], 0.0);
  EXPECT_DOUBLE_EQ(o.lambdas[3], 0.6);
  EXPECT_DOUBLE_EQ(o.lambdas[5], 1.0);
}

TEST(AnnealingPaths, EndpointsAreTheReferenceAndTheTarget) {
  const auto t = make_target("gmm4");
  const Particles x = draw("gauss:d=2,var=9", 20, 3);
  Particles target_score(20, 2), s(20, 2);
  t->score(x.rows(), target_score.rows());
  for (const std::string name : {"geometric", "dilation"}) {
    const auto path = make_annealing_path(name);
    path->score(*t, 1.0, x.rows(), s.rows());
    for (std::size_t i = 0; i < 40; ++i)
      EXPECT_NEAR(s.data()[i], target_score.data()[i], 1e-12) << name;
  }
  GeometricPath().score(*t, 0.0, x.rows(), s.rows());
  for (std::size_t i = 0; i < 40; ++i) EXPECT_DOUBLE_EQ(s.data()[i], -x.data()[i]);
  // Dilation at λ: (1/λ)∇log π(x/λ), clipped at 0.2.
  Particles xs(20, 2);
  for (std::size_t i = 0; i < 40; ++i) xs.data()[i] = x.data()[i] / 0.2;
  t->score(xs.rows(), target_score.rows());
  DilationPath().score(*t, 0.05, x.rows(), s.rows());
  for (std::size_t i = 0; i < 40; ++i) EXPECT_NEAR(s.data()[i], target_score.data()[i] / 0.2, 1e-9);
}

TEST(Annealing, CustomScheduleIsPiecewiseLinearAndEndsAtTheTarget) {
  const auto s = LinearSchedule::from_knots("0:0,0.2:0.5,0.6:1");
  EXPECT_DOUBLE_EQ(s.lambda(0, 100), 0.0);
  EXPECT_DOUBLE_EQ(s.lambda(10, 100), 0.25);
  EXPECT_DOUBLE_EQ(s.lambda(20, 100), 0.5);
  EXPECT_DOUBLE_EQ(s.lambda(40, 100), 0.75);
  EXPECT_DOUBLE_EQ(s.lambda(60, 100), 1.0);
  EXPECT_DOUBLE_EQ(s.lambda(100, 100), 1.0);
  for (const char* bad :
       {"0:0", "0.1:0,1:1", "0:0,0.5:0.4", "0:0,0.5:1,0.4:1", "0:0,x:1", "0:0,1:1.5"})
    EXPECT_THROW(LinearSchedule::from_knots(bad), InvalidArgument) << bad;
  try {
    LinearSchedule::from_knots("0:0,0.5:0.4");
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("the last lambda must be 1"), std::string::npos)
        << e.what();
  }
}
