// Algorithm 6 on a case with an exact answer: Gaussian data N(μ, s²I) under the VP SDE stay
// Gaussian, p_t = N(m(t)μ, (m(t)²s² + v(t))I), so the regressed score and the generated
// samples can be checked against closed forms.
#include <gtest/gtest.h>

#include <cmath>

#include <scoreflow/core/rng.hpp>
#include <scoreflow/core/torch_view.hpp>
#include <scoreflow/neural/malliavin_regression.hpp>
#include <scoreflow/sde/linear_sde.hpp>

namespace sf {
namespace {

TEST(MalliavinRegression, LearnsTheGaussianScoreAndGeneratesTheData) {
  torch::set_num_threads(1);
  const double mu = 1.0, s = 0.5;
  Particles data(4000, 2);
  fill_normals(7, Stream::data, 0, 0, data.n(), 2, data.data());
  for (std::size_t k = 0; k < data.n() * 2; ++k) data.data()[k] = mu + s * data.data()[k];
  const auto sde = make_forward_sde("vp");
  MalliavinRegressionOptions opt;
  opt.steps = 200;
  opt.snapshots = 50;
  opt.train_steps = 1500;
  opt.hidden = {64, 64};
  const auto trained = train_malliavin_score(*sde, data, opt);

  // Score at t = 0.3 and 0.7 on a grid within two standard deviations of p_t.
  const auto vp = LinearSde::by_name("vp");
  for (double t : {0.3, 0.7}) {
    const double m = vp.mean_coef(t), var = m * m * s * s + vp.std(t) * vp.std(t);
    Particles q(25, 2);
    for (std::size_t k = 0; k < 25; ++k) {
      q(k, 0) = m * mu + std::sqrt(var) * (-2 + static_cast<double>(k % 5));
      q(k, 1) = m * mu + std::sqrt(var) * (-2 + static_cast<double>(k / 5));
    }
    torch::NoGradGuard ng;
    const Particles est = to_particles(trained.model->score(as_tensor(q).to(torch::kFloat32), t));
    double sq = 0, scale = 0;
    for (std::size_t k = 0; k < 50; ++k) {
      const double exact = -(q.data()[k] - m * mu) / var;
      sq += std::pow(est.data()[k] - exact, 2) / 50;
      scale += exact * exact / 50;
    }
    // A network fit, not a Monte Carlo average: 10 % of the score's rms size.
    EXPECT_LT(std::sqrt(sq), 0.1 * std::sqrt(scale)) << "t = " << t;
  }
  // Generated samples: mean and spread of N(μ, s²) within 5 standard errors plus a 3 %
  // allowance for the fit (2,000 samples: SE of the mean 0.011, of the std 0.008).
  Particles start(2000, 2);
  for (std::size_t p = 0; p < 2000; ++p)
    for (std::size_t i = 0; i < 2; ++i) start(p, i) = data(p, i);
  const Particles prior = forward_euler(*sde, start, 1, 200, 3);
  const Particles gen = reverse_sde(*sde, *trained.model, prior, 1, 200, 4);
  for (std::size_t i = 0; i < 2; ++i) {
    double m = 0, m2 = 0;
    for (std::size_t p = 0; p < gen.n(); ++p) m += gen(p, i), m2 += gen(p, i) * gen(p, i);
    m /= 2000;
    const double sd = std::sqrt(m2 / 2000 - m * m);
    EXPECT_NEAR(m, mu, 5 * s / std::sqrt(2000.0) + 0.03);
    EXPECT_NEAR(sd, s, 5 * s / std::sqrt(4000.0) + 0.03 * s);
  }
}

}  // namespace
}  // namespace sf
