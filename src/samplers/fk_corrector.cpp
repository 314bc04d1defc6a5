#include <scoreflow/samplers/fk_corrector.hpp>

#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/samplers/weighted.hpp>

namespace sf {

GaussianMixture diffuse(const GaussianMixture& data, const LinearSde& sde, double t) {
  const double m = sde.mean_coef(t), s = sde.std(t);
  auto comps = data.component_list();
  for (auto& c : comps) {
    c.mean *= m;
    c.cov = m * m * c.cov + s * s * Eigen::MatrixXd::Identity(c.cov.rows(), c.cov.cols());
  }
  return GaussianMixture(data.spec() + " diffused", std::move(comps));
}

DiffusedFactor mixture_factor(const GaussianMixture& data, const LinearSde& sde, double beta) {
  DiffusedFactor f;
  f.name = data.spec();
  f.beta = beta;
  f.score = [&data, sde](double t, ConstRows x, Rows out) { diffuse(data, sde, t).score(x, out); };
  f.log_density_at_start = [&data, sde](ConstRows x, std::span<double> out) {
    diffuse(data, sde, 1.0).log_density(x, out);
  };
  return f;
}

FkCorrector::FkCorrector(std::vector<DiffusedFactor> factors, std::size_t dim,
                         FkCorrectorConfig cfg)
    : factors_(std::move(factors)),
      dim_(dim),
      cfg_(std::move(cfg)),
      resample_(scheme_of(cfg_.resampler, "fk-corrector")) {
  if (factors_.empty()) throw InvalidArgument("fk-corrector: needs at least one factor");
  for (const auto& f : factors_) {
    check_positive_finite("fk-corrector", fmt::format("exponent beta of {}", f.name), f.beta);
    if (!f.score)
      throw InvalidArgument(fmt::format("fk-corrector: factor {} has no score", f.name));
  }
  check_positive("fk-corrector", "dimension", dim_);
  check_positive("fk-corrector", "number of steps", cfg_.steps);
  check_in_range("fk-corrector", "end time t_end", cfg_.t_end, 0.0, 0.5);
  check_in_range("fk-corrector", "ESS threshold", cfg_.ess_threshold, 0.0, 1.0);
}

nlohmann::json FkCorrector::config() const {
  nlohmann::json factors = nlohmann::json::array();
  for (const auto& f : factors_) factors.push_back({{"name", f.name}, {"beta", f.beta}});
  nlohmann::json j = {{"sampler", name()},
                      {"factors", factors},
                      {"steps", cfg_.steps},
                      {"seed", cfg_.seed},
                      {"sde", cfg_.sde.name()},
                      {"t_end", cfg_.t_end},
                      {"resampler", cfg_.resampler.name},
                      {"ess_threshold", cfg_.ess_threshold}};
  if (factors_.size() == 1) j["beta"] = factors_[0].beta;
  return j;
}

double FkCorrector::time_at(std::size_t step) const {
  const double done = static_cast<double>(step) / static_cast<double>(cfg_.steps);
  return 1 - done * (1 - cfg_.t_end);
}

void FkCorrector::weighted_scores(double t, ConstRows x, Particles& total,
                                  std::vector<double>* own_sq) const {
  total.reshape(x.n, x.d);
  std::fill(total.values().begin(), total.values().end(), 0.0);
  if (own_sq) own_sq->assign(x.n, 0.0);
  Particles one(x.n, x.d);
  for (const auto& f : factors_) {
    f.score(t, x, one.rows());
    parallel_rows(x.n, [&](std::size_t i) {
      double sq = 0;
      for (std::size_t k = 0; k < x.d; ++k) {
        sq += one(i, k) * one(i, k);
        total(i, k) += f.beta * one(i, k);
      }
      if (own_sq) (*own_sq)[i] += f.beta * sq;
    });
  }
}

void FkCorrector::target_score(SamplerState& s) const {
  if (cfg_.target_score_in_state)
    weighted_scores(cfg_.t_end, s.x.rows(), s.grad, nullptr);
  else
    s.grad.reshape(0, s.x.d());
}

SamplerState FkCorrector::init(Particles x, std::size_t step) const {
  check_dim("fk-corrector", "initial particles", x.d(), dim_);
  SamplerState s;
  s.step = step;
  if (step == 0) {
    // Weights from the prior N(0, sd² I) to Π_1 = Π_k q_1^β_k.
    const double sd = cfg_.sde.prior_std();
    const double log_norm =
        static_cast<double>(x.d()) * (0.5 * std::log(2 * std::numbers::pi) + std::log(sd));
    std::vector<double> log_prior(x.n()), lq(x.n()), inc(x.n(), 0.0);
    for (std::size_t i = 0; i < x.n(); ++i) {
      double r2 = 0;
      for (std::size_t k = 0; k < x.d(); ++k) r2 += x(i, k) * x(i, k);
      log_prior[i] = -0.5 * r2 / (sd * sd) - log_norm;
    }
    for (const auto& f : factors_) {
      if (f.log_density_at_start)
        f.log_density_at_start(x.rows(), lq);
      else
        lq = log_prior;
      for (std::size_t i = 0; i < x.n(); ++i) inc[i] += f.beta * lq[i];
    }
    for (std::size_t i = 0; i < x.n(); ++i) inc[i] -= log_prior[i];
    s.x = std::move(x);
    // Kept as they are: the first step shifts them by the largest over all processes (a shard
    // does not know it here) into the normaliser.
    s.x.log_weights() = std::move(inc);
  } else {
    s.x = std::move(x);
    if (s.x.log_weights().empty()) s.x.log_weights().assign(s.x.n(), 0.0);
  }
  target_score(s);
  return s;
}

StepInfo FkCorrector::step(SamplerState& s) const {
  const std::size_t n = s.x.n(), d = s.x.d();
  const double dtau = (1 - cfg_.t_end) / static_cast<double>(cfg_.steps);
  const double t = time_at(s.step), g2 = cfg_.sde.g2(t), a = cfg_.sde.drift_coef(t);
  double big_b = 0;
  for (const auto& f : factors_) big_b += f.beta;
  // S and Σ β_k |∇log q^(k)|² at the current points.
  Particles total;
  std::vector<double> own_sq;
  weighted_scores(t, s.x.rows(), total, &own_sq);
  // Weights at the current point, then the reverse move.
  std::vector<double> inc(n);
  const double div_term = (big_b - 1) * a * static_cast<double>(d);
  parallel_rows(n, [&](std::size_t i) {
    double s2 = 0;
    for (std::size_t k = 0; k < d; ++k) s2 += total(i, k) * total(i, k);
    inc[i] = (div_term + 0.5 * g2 * (s2 - own_sq[i])) * dtau;
  });
  add_log_weights(s, inc);
  const double noise = std::sqrt(g2 * dtau);
  parallel_rows(n, [&](std::size_t i) {
    Draws rng(cfg_.seed, Stream::langevin_noise, s.first + i, s.step);
    for (std::size_t k = 0; k < d; ++k)
      s.x(i, k) += (-a * s.x(i, k) + g2 * total(i, k)) * dtau + noise * rng.normal();
  });
  ++s.step;
  target_score(s);
  StepInfo info;
  maybe_resample(s, resample_, cfg_.ess_threshold, cfg_.seed, info);
  return info;
}

}  // namespace sf
