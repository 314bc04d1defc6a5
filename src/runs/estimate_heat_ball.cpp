#include <scoreflow/runs/estimate_heat_ball.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/comm.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/io.hpp>
#include <scoreflow/core/npy.hpp>
#include <scoreflow/core/progress.hpp>
#include <scoreflow/plot/plot.hpp>
#include <scoreflow/runs/query_points.hpp>
#include <scoreflow/score/heat_ball_estimator.hpp>
#include <scoreflow/sde/fokker_planck.hpp>

namespace fs = std::filesystem;

namespace sf {
namespace {

StartLaw start_law(const HeatBallEstimateOptions& o) {
  if (o.start.empty()) {
    check_in_range("estimate heatball", "--x0-std", o.x0_std, 0, 1e12);
    const auto x0 = parse_point(o.x0, "--x0");
    return {Particles(1, x0.size(), x0), o.x0_std};
  }
  const NpyArray a = read_npy(o.start);
  if (a.shape.size() != 2 || a.shape[0] == 0)
    throw InvalidArgument(fmt::format("--start {}: expected a non-empty N x d array", o.start));
  Particles rows(a.shape[0], a.shape[1], a.values);
  check_all_finite(rows.rows(), "--start " + o.start);
  return {std::move(rows), 0};
}

// X_t for the default query grid: 4000 draws of the sampler.
Particles pilot_draws(const ForwardSampler& sampler, std::size_t d, double t, std::uint64_t seed) {
  Particles x(4000, d);
  for (std::size_t j = 0; j < x.n(); ++j) {
    Draws draws(seed, Stream::heat_ball, (std::uint64_t{1} << 47) + j, 0);
    sampler.sample(j, t, draws, x.row(j));
  }
  return x;
}

// The reference at the query points: the exact Gaussian for an affine drift from a point or
// Gaussian start, else finite-volume Fokker–Planck for d ≤ 2 from a fixed point.
struct Reference {
  std::string name;
  std::optional<GaussianLaw> gaussian;
  std::optional<FokkerPlanckSolution> pde;
  double log_density(const double* y) const {
    return gaussian ? gaussian->log_density(y) : std::log(pde->density_at(y));
  }
  std::vector<double> score(const double* y) const {
    return gaussian ? gaussian->score(y) : pde->score(y);
  }
};

std::optional<Reference> make_reference(const HeatBallEstimateOptions& o, const ForwardSde& sde,
                                        const StartLaw& start, const Particles& pilot) {
  if (!o.reference || !o.start.empty()) return std::nullopt;
  const std::vector<double> x0(start.rows.row(0), start.rows.row(0) + start.dim());
  if (sde.linear()) return Reference{"exact", linear_sde_law(sde, x0, start.jitter, o.time), {}};
  if (start.dim() > 2 || start.jitter > 0) return std::nullopt;
  FokkerPlanckOptions fp;
  fp.horizon = o.time;
  fp.steps = start.dim() == 1 ? 4000 : 1000;
  return Reference{"Fokker-Planck", std::nullopt,
                   solve_fokker_planck(sde, x0, reference_grid(pilot, x0), fp)};
}

HeatBallEstimatorOptions estimator_options(const HeatBallEstimateOptions& o) {
  HeatBallEstimatorOptions opt;
  opt.radius = o.radius;
  opt.samples = o.samples;
  opt.tip = o.tip;
  opt.score_tip = o.score_tip;
  opt.source = o.source;
  opt.seed = o.seed;
  return opt;
}

// The estimates at all query points, each keyed by the point's index. Across processes each
// runs its share of every point's draws, and every process ends with the same estimates.
std::vector<HeatBallEstimate> estimates_at(const ForwardSde& sde, const ForwardSampler& sampler,
                                           const TimeChange& clock, const Particles& at, double t,
                                           HeatBallEstimatorOptions opt, const Comm& comm) {
  opt.comm = &comm;
  std::vector<HeatBallEstimate> out;
  Progress progress(at.n(), "heat-ball estimates");
  for (std::size_t q = 0; q < at.n(); ++q) {
    const std::vector<double> x(at.row(q), at.row(q) + at.d());
    out.push_back(heat_ball_estimate(sde, sampler, clock, x, t, opt, q));
    progress.update(q + 1);
  }
  progress.finish();
  return out;
}

nlohmann::json write_estimates(const HeatBallEstimateOptions& o, const ForwardSde& sde,
                               const StartLaw& start, const Particles& pilot,
                               const TimeChange& clock, const Particles& at,
                               const std::vector<HeatBallEstimate>& estimates, double seconds,
                               int processes);

}  // namespace

nlohmann::json run_estimate_heat_ball(const HeatBallEstimateOptions& o) {
  const auto sde = make_forward_sde(o.sde);
  StartLaw start = start_law(o);
  const std::size_t d = start.dim();
  check_positive_finite("estimate heatball", "--t", o.time);
  check_positive("estimate heatball", "--steps", o.steps);
  if (o.at.empty() && d > 2)
    throw InvalidArgument(fmt::format(
        "estimate heatball: in dimension {} give the query points with --at (the default grid "
        "covers d <= 2)",
        d));
  const TimeChange clock(*sde, o.time);
  const auto sampler = make_forward_sampler(*sde, start, o.time, o.steps);
  const HeatBallEstimatorOptions opt = estimator_options(o);
  check_heat_ball_options(opt, clock, o.time);
  const Particles pilot = pilot_draws(*sampler, d, o.time, o.seed);
  const Particles at =
      o.at.empty() ? quantile_grid(pilot, d == 1 ? o.points : std::min<std::size_t>(o.points, 15))
                   : read_queries(o.at, d);
  const Comm& comm = Comm::world();
  comm.on_root([&] { prepare_run_dir(o.out, o.force ? RunDirMode::force : RunDirMode::fresh); });
  const auto t0 = std::chrono::steady_clock::now();
  const auto estimates = estimates_at(*sde, *sampler, clock, at, o.time, opt, comm);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json summary;
  comm.on_root([&] {
    summary = write_estimates(o, *sde, start, pilot, clock, at, estimates, seconds, comm.size());
  });
  return summary;
}

namespace {

nlohmann::json write_estimates(const HeatBallEstimateOptions& o, const ForwardSde& sde,
                               const StartLaw& start, const Particles& pilot,
                               const TimeChange& clock, const Particles& at,
                               const std::vector<HeatBallEstimate>& estimates, double seconds,
                               int processes) {
  const std::size_t d = at.d();
  const auto reference = make_reference(o, sde, start, pilot);

  std::vector<std::string> cols = {"y0"};
  if (d == 2) cols.push_back("y1");
  for (const char* c : {"density", "density_se", "log_density", "log_density_se", "entropy",
                        "entropy_se", "inside"})
    cols.emplace_back(c);
  for (std::size_t i = 0; i < d; ++i) {
    cols.push_back(fmt::format("score{}", i));
    cols.push_back(fmt::format("se{}", i));
  }
  if (reference) {
    cols.emplace_back("ref_density");
    cols.emplace_back("ref_log_density");
    for (std::size_t i = 0; i < d; ++i) cols.push_back(fmt::format("reference{}", i));
  }
  CsvTable table(cols);
  Particles score(at.n(), d), score_se(at.n(), d);
  std::vector<double> density, log_density, entropy;
  double err_p = 0, err_l = 0, err_s = 0, se_s = 0;
  for (std::size_t q = 0; q < at.n(); ++q) {
    const std::vector<double> x(at.row(q), at.row(q) + d);
    const HeatBallEstimate& e = estimates[q];
    std::vector<double> row = x;
    for (double v : {e.density, e.density_se, e.log_density, e.log_density_se, e.entropy,
                     e.entropy_se, e.inside})
      row.push_back(v);
    for (std::size_t i = 0; i < d; ++i) {
      row.push_back(e.score[i]);
      row.push_back(e.score_se[i]);
      score(q, i) = e.score[i], score_se(q, i) = e.score_se[i];
      se_s += e.score_se[i] * e.score_se[i];
    }
    density.push_back(e.density), log_density.push_back(e.log_density);
    entropy.push_back(e.entropy);
    if (reference) {
      const double lp = reference->log_density(x.data());
      const auto s = reference->score(x.data());
      row.push_back(std::exp(lp));
      row.push_back(lp);
      row.insert(row.end(), s.begin(), s.end());
      err_p += std::pow(e.density / std::exp(lp) - 1, 2);
      err_l += std::pow(e.log_density - lp, 2);
      for (std::size_t i = 0; i < d; ++i) err_s += std::pow(e.score[i] - s[i], 2);
    }
    table.add_row(row);
  }
  const double m = static_cast<double>(at.n()), md = m * static_cast<double>(d);
  const double rmse_p = std::sqrt(err_p / m), rmse_l = std::sqrt(err_l / m);
  const double rmse_s = std::sqrt(err_s / md), score_se_rms = std::sqrt(se_s / md);
  nlohmann::json summary = {
      {"command", "estimate heatball"},
      {"sde", sde.name()},
      {"t", o.time},
      {"theta_t", clock.theta(o.time)},
      {"radius", o.radius},
      {"max_radius", heat_ball_max_radius(clock, o.time)},
      {"samples_per_point", o.samples},
      {"tip", o.tip},
      {"score_tip", o.score_tip},
      {"source", o.source},
      {"sampler", sde.linear() ? "exact (affine drift)" : fmt::format("Euler, {} steps", o.steps)},
      {"seed", o.seed},
      {"points", at.n()},
      {"seconds", seconds},
      {"draws_per_second", m * static_cast<double>(o.samples) / seconds},
      {"score_rms_standard_error", score_se_rms},
      {"processes", processes},
      {"communication", traffic_json(Comm::world().traffic())}};
  if (reference) {
    summary["reference"] = reference->name;
    summary["density_relative_rmse"] = rmse_p;
    summary["log_density_rmse"] = rmse_l;
    summary["score_rmse"] = rmse_s;
  }
  const std::string hint =
      "a query point far out in the tails, a time whose heat ball overflows, or too few "
      "--samples; check --t, --radius and --samples";
  check_finite_output("estimate heatball: density", density, hint);
  check_finite_output("estimate heatball: log-density", log_density, hint);
  check_finite_output("estimate heatball: score", {score.data(), at.n() * d}, hint);
  check_finite_output("estimate heatball: score standard error", {score_se.data(), at.n() * d},
                      hint);
  write_npy(o.out / "at.npy", {at.n(), d}, at.data());
  write_npy(o.out / "density.npy", {at.n()}, density.data());
  write_npy(o.out / "log_density.npy", {at.n()}, log_density.data());
  write_npy(o.out / "entropy.npy", {at.n()}, entropy.data());
  write_npy(o.out / "score.npy", {at.n(), d}, score.data());
  write_npy(o.out / "score_se.npy", {at.n(), d}, score_se.data());
  table.write(o.out / "estimates.csv");
  write_json(o.out / "summary.json", summary);
  const std::string ref_name = reference ? reference->name : "";
  if (d == 1) plot_heat_ball_estimate(o.out / "estimates.csv", o.out / "estimate.png", ref_name);
  if (d <= 2)
    plot_score_estimate(o.out / "estimates.csv", d, o.out / "score.png",
                        {"heat-ball estimate", ref_name});
  if (!o.verbose) return summary;
  std::printf("%zu points x %zu draws in %.2f s; score rms standard error %.4f%s\n", at.n(),
              o.samples, seconds, score_se_rms,
              reference ? fmt::format("; vs {}: density rel. RMSE {:.4f}, score RMSE {:.4f}, "
                                      "log-density RMSE {:.4f}",
                                      reference->name, rmse_p, rmse_s, rmse_l)
                              .c_str()
                        : "");
  std::printf(
      "wrote %s/{estimates.csv, density.npy, score.npy, score_se.npy, log_density.npy, "
      "entropy.npy, at.npy, summary.json%s}\n",
      o.out.c_str(),
      d == 1   ? ", estimate.png, score.png"
      : d == 2 ? ", score.png"
               : "");
  return summary;
}

}  // namespace

}  // namespace sf
