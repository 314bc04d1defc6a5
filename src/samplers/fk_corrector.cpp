#include <scoreflow/samplers/fk_corrector.hpp>

#include <cmath>
#include <numbers>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/samplers/weighted.hpp>

namespace sf {

GaussianMixture diffuse(const GaussianMixture& data, const NoiseSchedule& vp, double t) {
  const double a = vp.alpha(t);
  auto comps = data.component_list();
  for (auto& c : comps) {
    c.mean *= a;
    c.cov = a * a * c.cov + (1 - a * a) * Eigen::MatrixXd::Identity(c.cov.rows(), c.cov.cols());
  }
  return GaussianMixture(data.spec() + " diffused", std::move(comps));
}

FkCorrector::FkCorrector(const GaussianMixture& data, FkCorrectorConfig cfg)
    : data_(data), cfg_(std::move(cfg)), resample_(scheme_of(cfg_.resampler, "fk-corrector")) {
  check_positive_finite("fk-corrector", "exponent beta", cfg_.beta);
  check_positive("fk-corrector", "number of steps", cfg_.steps);
  check_positive_finite("fk-corrector", "horizon T", cfg_.schedule.horizon);
  check_in_range("fk-corrector", "ESS threshold", cfg_.ess_threshold, 0.0, 1.0);
}

nlohmann::json FkCorrector::config() const {
  return {{"sampler", name()},
          {"beta", cfg_.beta},
          {"steps", cfg_.steps},
          {"seed", cfg_.seed},
          {"vp",
           {{"beta_min", cfg_.schedule.lo},
            {"beta_max", cfg_.schedule.hi},
            {"horizon", cfg_.schedule.horizon}}},
          {"resampler", cfg_.resampler.name},
          {"ess_threshold", cfg_.ess_threshold}};
}

double FkCorrector::time_at(std::size_t step) const {
  return cfg_.schedule.horizon * (1 - static_cast<double>(step) / static_cast<double>(cfg_.steps));
}

void FkCorrector::target_score(SamplerState& s) const {
  s.grad.reshape(s.x.n(), s.x.d());
  data_.score(s.x.rows(), s.grad.rows());
  for (double& v : s.grad.values()) v *= cfg_.beta;
}

SamplerState FkCorrector::init(Particles x, std::size_t step) const {
  check_dim("fk-corrector", "initial particles", x.d(), data_.dim());
  SamplerState s;
  s.step = step;
  if (step == 0) {
    // Importance weights from N(0, I) to q_T^β (exact; q_T is nearly N(0, I) anyway).
    const GaussianMixture qt = diffuse(data_, cfg_.schedule, time_at(0));
    std::vector<double> lq(x.n()), inc(x.n());
    qt.log_density(x.rows(), lq);
    const double half_log_2pi = 0.5 * std::log(2 * std::numbers::pi);
    for (std::size_t i = 0; i < x.n(); ++i) {
      double r2 = 0;
      for (std::size_t k = 0; k < x.d(); ++k) r2 += x(i, k) * x(i, k);
      inc[i] = cfg_.beta * lq[i] + 0.5 * r2 + static_cast<double>(x.d()) * half_log_2pi;
    }
    s.x = std::move(x);
    add_log_weights(s, inc);
  } else {
    s.x = std::move(x);
    if (s.x.log_weights().empty()) s.x.log_weights().assign(s.x.n(), 0.0);
  }
  target_score(s);
  return s;
}

StepInfo FkCorrector::step(SamplerState& s) const {
  const std::size_t n = s.x.n(), d = s.x.d();
  const double dtau = cfg_.schedule.horizon / static_cast<double>(cfg_.steps);
  const double t = time_at(s.step), b = cfg_.schedule.g2(t), beta = cfg_.beta;
  const GaussianMixture qt = diffuse(data_, cfg_.schedule, t);
  Particles path(n, d);  // ∇log q_t at the current points
  qt.score(s.x.rows(), path.rows());
  // Weights at the current point, then the annealed reverse move (f = −½b x, g² = b).
  std::vector<double> inc(n);
  const double div_f = -0.5 * b * static_cast<double>(d);
  parallel_rows(n, [&](std::size_t i) {
    double s2 = 0;
    for (std::size_t k = 0; k < d; ++k) s2 += path(i, k) * path(i, k);
    inc[i] = ((beta - 1) * div_f + 0.5 * b * beta * (beta - 1) * s2) * dtau;
  });
  add_log_weights(s, inc);
  const double noise = std::sqrt(b * dtau);
  parallel_rows(n, [&](std::size_t i) {
    Draws rng(cfg_.seed, Stream::langevin_noise, i, s.step);
    for (std::size_t k = 0; k < d; ++k)
      s.x(i, k) += (0.5 * b * s.x(i, k) + beta * b * path(i, k)) * dtau + noise * rng.normal();
  });
  ++s.step;
  target_score(s);
  StepInfo info;
  maybe_resample(s, resample_, cfg_.ess_threshold, cfg_.seed, info);
  return info;
}

}  // namespace sf
