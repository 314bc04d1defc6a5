#include <scoreflow/score/heat_ball_estimator.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/comm.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/parallel.hpp>

namespace sf {
namespace {

constexpr double kFourPi = 4 * std::numbers::pi;
constexpr std::size_t kBlock = 1024;

// Marsaglia–Tsang, shape ≥ 1, rate 1.
double gamma_draw(double shape, Draws& draws) {
  const double d = shape - 1.0 / 3, c = 1 / std::sqrt(9 * d);
  for (;;) {
    const double z = draws.normal(), v1 = 1 + c * z;
    if (v1 <= 0) continue;
    const double v = v1 * v1 * v1;
    if (std::log(draws.uniform()) < 0.5 * z * z + d - d * v + d * std::log(v)) return d * v;
  }
}

// ρ = log(R²/4πτ): under the ψ-weighted κ measure Gamma(n/2 + 3, rate n/2). The proposal is
// a third each of that law, a uniform on the density's region [0, ρ_cut] (so its tip is never
// starved) and a uniform on the score's region [0, ρ_score] (its kernel is the noisier one).
struct RhoProposal {
  double shape, rate, cut, score_cut;
  double log_norm = shape * std::log(rate) - std::lgamma(shape);  // of the Gamma density
  double draw(Draws& draws) const {
    const double u = 3 * draws.uniform();
    if (u < 1) return gamma_draw(shape, draws) / rate;
    return draws.uniform() * (u < 2 ? cut : score_cut);
  }
  double density(double rho) const {
    const double log_gamma = log_norm + (shape - 1) * std::log(rho) - rate * rho;
    return (std::exp(log_gamma) + 1 / cut + (rho <= score_cut ? 1 / score_cut : 0.0)) / 3;
  }
};

// Running sums of one block of draws: V_p over the density's region; V_p and V_g (d) with
// their second moments over the score's (smaller) region.
struct Sums {
  double p = 0, pp = 0, inside = 0;  // density region
  double sp = 0, spp = 0;            // score region
  std::vector<double> g, gg, pg;
  explicit Sums(std::size_t d = 0) : g(d), gg(d), pg(d) {}
  void add(const Sums& o) {
    p += o.p, pp += o.pp, inside += o.inside, sp += o.sp, spp += o.spp;
    for (std::size_t i = 0; i < g.size(); ++i) g[i] += o.g[i], gg[i] += o.gg[i], pg[i] += o.pg[i];
  }
  // As a row of 5 + 3d numbers, to gather across processes.
  static std::size_t width(std::size_t d) { return 5 + 3 * d; }
  void pack(std::vector<double>& out) const {
    out.insert(out.end(), {p, pp, inside, sp, spp});
    out.insert(out.end(), g.begin(), g.end());
    out.insert(out.end(), gg.begin(), gg.end());
    out.insert(out.end(), pg.begin(), pg.end());
  }
  void unpack(const double* v) {
    p = v[0], pp = v[1], inside = v[2], sp = v[3], spp = v[4];
    const std::size_t d = g.size();
    std::copy_n(v + 5, d, g.begin());
    std::copy_n(v + 5 + d, d, gg.begin());
    std::copy_n(v + 5 + 2 * d, d, pg.begin());
  }
};

// Every block's sums on every process, when the blocks in `mine` were run here.
void share_blocks(std::vector<Sums>& sums, Shard mine, const Comm& comm) {
  const std::size_t d = sums.front().g.size(), width = Sums::width(d);
  std::vector<double> local;
  for (std::size_t b = mine.first; b < mine.first + mine.count; ++b) sums[b].pack(local);
  const auto all = comm.all_rows(local, sums.size(), width);
  for (std::size_t b = 0; b < sums.size(); ++b) sums[b].unpack(&all[b * width]);
}

// The contribution τk/q of one draw at (y, τ) to the density (vp) and its gradient (vg).
struct Kernels {
  std::size_t n;
  double log_r, r_neg_n;  // n log R, R^{−n}
  bool source;

  // False when y lies outside the ball (zero contribution).
  bool eval(const double* x, const double* y, const double* f, double c, double tau, double weight,
            double& vp, double* vg) const {
    double dd = 0, fd = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double d = x[i] - y[i];
      dd += d * d;
      fd += f[i] * d;
    }
    const double log_phi = -0.5 * static_cast<double>(n) * std::log(kFourPi * tau) - dd / (4 * tau);
    const double psi = log_r + log_phi;
    if (psi < 0) return false;
    const double m = r_neg_n / (4 * tau * tau);
    vp = weight * dd * psi * m;
    const double gm = weight * m * (2 * psi - dd / (2 * tau));
    for (std::size_t i = 0; i < n; ++i) vg[i] = gm * (x[i] - y[i]);
    if (!source) return true;
    const double phi = std::exp(log_phi);
    const double a = phi - r_neg_n * (1 + psi), b = phi - r_neg_n;  // R^{−n}(X−1−ψ), R^{−n}(X−1)
    const double s = weight * c / (2 * tau);
    vp += s * fd * a;
    for (std::size_t i = 0; i < n; ++i)
      vg[i] += s * (f[i] * a - fd * b * (x[i] - y[i]) / (2 * tau));
    return true;
  }
};

}  // namespace

double gamma_cdf(double shape, double rate, double x) {
  if (x <= 0) return 0;
  // Series P(a, z) = e^{−z} z^a / Γ(a+1) Σ_k z^k / ((a+1)…(a+k)).
  const double z = rate * x;
  double term = 1, sum = 1;
  for (int k = 1; k < 100000 && term > 1e-17 * sum; ++k) {
    term *= z / (shape + k);
    sum += term;
  }
  return std::min(1.0, std::exp(-z + shape * std::log(z) - std::lgamma(shape + 1)) * sum);
}

double heat_ball_max_radius(const TimeChange& clock, double t) {
  return std::sqrt(kFourPi * clock.theta(t));
}

void check_heat_ball_options(const HeatBallEstimatorOptions& opt, const TimeChange& clock,
                             double t) {
  const char* fn = "heat-ball estimate";
  if (opt.samples < 2)
    throw InvalidArgument(fmt::format(
        "{}: samples is {}, but must be at least 2 (the standard errors need two draws)", fn,
        opt.samples));
  check_positive_finite(fn, "radius", opt.radius);
  check_in_range(fn, "tip", opt.tip, 1e-12, 0.5);
  check_in_range(fn, "score tip", opt.score_tip, opt.tip, 0.5);
  if (!(t > 0 && t <= clock.horizon()))
    throw InvalidArgument(
        fmt::format("{}: time t = {} must lie in (0, {}]", fn, t, clock.horizon()));
  if (!std::isfinite(clock.theta(t)) || !(clock.theta(t) > 0))
    throw InvalidArgument(fmt::format(
        "{}: time t = {:g} is out of reach: the diffusion's time change theta(t) is {}; use a "
        "smaller t",
        fn, t, clock.theta(t)));
  const double r_max = heat_ball_max_radius(clock, t);
  if (opt.radius > r_max)
    throw InvalidArgument(
        fmt::format("{}: radius {} reaches before time 0 at t = {}; use a radius <= {:.4g} (sqrt(4 "
                    "pi theta(t)))",
                    fn, opt.radius, t, r_max));
}

HeatBallEstimate heat_ball_estimate(const ForwardSde& sde, const ForwardSampler& sampler,
                                    const TimeChange& clock, std::span<const double> x, double t,
                                    const HeatBallEstimatorOptions& opt, std::uint64_t query) {
  check_heat_ball_options(opt, clock, t);
  const std::size_t n = x.size();
  const double nd = static_cast<double>(n);
  const RhoProposal rho{nd / 2 + 3, nd / 2, std::log(1 / opt.tip), std::log(1 / opt.score_tip)};
  const Kernels kernels{n, nd * std::log(opt.radius), std::exp(-nd * std::log(opt.radius)),
                        opt.source};
  const double tau_max = opt.radius * opt.radius / kFourPi, theta_t = clock.theta(t);
  const std::size_t blocks = (opt.samples + kBlock - 1) / kBlock;
  std::vector<Sums> sums(blocks, Sums(n));
  const auto run_block = [&](std::size_t b) {
    std::vector<double> y(n), f(n), vg(n);
    Sums& acc = sums[b];
    for (std::size_t j = b * kBlock; j < std::min(opt.samples, (b + 1) * kBlock); ++j) {
      Draws draws(opt.seed, Stream::heat_ball, query * opt.samples + j, 0);
      const double r = rho.draw(draws);
      if (r > rho.cut) continue;
      const double tau = tau_max * std::exp(-r);
      const double s = clock.inverse(theta_t - tau);
      sampler.sample(j, s, draws, y.data());
      const double sig = sde.sigma(s);
      sde.drift(y.data(), 1, n, s, f.data(), nullptr, nullptr);
      double vp = 0;
      if (!kernels.eval(x.data(), y.data(), f.data(), 2 / (sig * sig), tau, tau / rho.density(r),
                        vp, vg.data()))
        continue;
      acc.p += vp, acc.pp += vp * vp, acc.inside += 1;
      if (r > rho.score_cut) continue;
      acc.sp += vp, acc.spp += vp * vp;
      for (std::size_t i = 0; i < n; ++i)
        acc.g[i] += vg[i], acc.gg[i] += vg[i] * vg[i], acc.pg[i] += vp * vg[i];
    }
  };
  const Comm& comm = opt.comm ? *opt.comm : Comm::self();
  const Shard mine = comm.shard(blocks);
  if (sde.thread_safe()) {
    parallel_rows(mine.count, [&](std::size_t b) { run_block(mine.first + b); });
  } else {
    for (std::size_t b = 0; b < mine.count; ++b) run_block(mine.first + b);
  }
  if (comm.distributed()) share_blocks(sums, mine, comm);
  Sums total(n);
  for (const Sums& s : sums) total.add(s);

  const double count = static_cast<double>(opt.samples);
  const double keep = gamma_cdf(rho.shape, rho.rate, rho.cut);  // 1 − tip mass
  const double mp = total.p / count, vp = std::max(total.pp / count - mp * mp, 0.0);
  HeatBallEstimate e;
  e.density = mp / keep;
  e.density_se = std::sqrt(vp / count) / keep;
  e.inside = total.inside / count;
  // The score is a ratio over its own region: the renormalisation cancels.
  const double sp = total.sp / count, svp = std::max(total.spp / count - sp * sp, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    const double mg = total.g[i] / count, vg = std::max(total.gg[i] / count - mg * mg, 0.0);
    const double cov = total.pg[i] / count - sp * mg, s = mg / sp;
    e.score.push_back(s);
    // Delta method for a ratio of means.
    e.score_se.push_back(std::sqrt(std::max(vg - 2 * s * cov + s * s * svp, 0.0) / count) /
                         std::abs(sp));
  }
  e.log_density = e.density > 0 ? std::log(e.density) : std::nan("");
  e.log_density_se = e.density_se / e.density;
  e.entropy = -e.density * e.log_density;
  e.entropy_se = std::abs(1 + e.log_density) * e.density_se;
  return e;
}

}  // namespace sf
