// E5, second part (EXPERIMENTS.md): heat-ball mean-value estimates of the density, score and
// log-density of an OU process with a Gaussian start, where p_t is exact, against the radius R
// and the number of draws. dX = −X dt + √2 dW (so θ(t) = t), X₀ ~ N(0.8, 0.25 I), t = 1.
#include <cmath>

#include <fmt/format.h>

#include <scoreflow/core/io.hpp>
#include <scoreflow/plot/plot.hpp>
#include <scoreflow/score/heat_ball_estimator.hpp>
#include "experiments/experiment.hpp"

namespace sf {
namespace fs = std::filesystem;

namespace {

struct Row {
  std::size_t n, samples;
  double radius, density_rel, score, log_density, score_se, z_rms;
};

// Query points: 9 along the diagonal over mean ± 1.5 sd (1-D), or a 3 × 3 grid over ± 1.2 sd.
std::vector<std::vector<double>> queries(const GaussianLaw& law, std::size_t n) {
  const double sd = std::sqrt(law.cov[0]);
  std::vector<std::vector<double>> q;
  if (n == 1) {
    for (int k = -4; k <= 4; ++k) q.push_back({law.mean[0] + 1.5 * sd * k / 4});
    return q;
  }
  for (int a = -1; a <= 1; ++a)
    for (int b = -1; b <= 1; ++b)
      q.push_back({law.mean[0] + 1.2 * sd * a, law.mean[1] + 1.2 * sd * b});
  return q;
}

Row study(std::size_t n, double radius, std::size_t samples, std::uint64_t seed) {
  const auto sde = make_forward_sde("ou:theta=1,sigma=1.4142135623730951");
  const double t = 1;
  const TimeChange clock(*sde, t);
  const auto sampler = make_forward_sampler(*sde, {Particles(1, n, 0.8), 0.5}, t, 1);
  const GaussianLaw law = linear_sde_law(*sde, std::vector<double>(n, 0.8), 0.5, t);
  HeatBallEstimatorOptions opt;
  opt.radius = radius;
  opt.samples = samples;
  opt.seed = seed;
  Row row{n, samples, radius, 0, 0, 0, 0, 0};
  const auto q = queries(law, n);
  double zz = 0;
  for (std::size_t k = 0; k < q.size(); ++k) {
    const HeatBallEstimate e = heat_ball_estimate(*sde, *sampler, clock, q[k], t, opt, k);
    const double lp = law.log_density(q[k].data());
    const auto s = law.score(q[k].data());
    row.density_rel += std::pow(e.density / std::exp(lp) - 1, 2);
    row.log_density += std::pow(e.log_density - lp, 2);
    zz += std::pow((e.density - std::exp(lp)) / e.density_se, 2);
    for (std::size_t i = 0; i < n; ++i) {
      row.score += std::pow(e.score[i] - s[i], 2) / static_cast<double>(n);
      row.score_se += std::pow(e.score_se[i], 2) / static_cast<double>(n);
      zz += std::pow((e.score[i] - s[i]) / e.score_se[i], 2);
    }
  }
  const double m = static_cast<double>(q.size());
  for (double* v : {&row.density_rel, &row.score, &row.log_density, &row.score_se})
    *v = std::sqrt(*v / m);
  row.z_rms = std::sqrt(zz / (m * static_cast<double>(n + 1)));
  return row;
}

void plot(const std::vector<Row>& rows, const std::vector<double>& radii, const fs::path& out) {
  // One data block per (n, R): columns N, density rel. error, score RMSE.
  std::string dat;
  for (std::size_t n : {1, 2})
    for (double r : radii) {
      for (const Row& w : rows)
        if (w.n == n && w.radius == r)
          dat += fmt::format("{} {} {}\n", w.samples, w.density_rel, w.score);
      dat += "\n\n";
    }
  write_file_atomic(out / "plots" / "mean_value.dat", dat);
  std::string gp = fmt::format(
      "set terminal pngcairo size 1000,760 font ',10' noenhanced\nset output '{}'\n"
      "set multiplot layout 2,2 title 'heat-ball mean-value estimates, OU from N(0.8, 0.25), t = "
      "1: "
      "error vs draws per point'\nset logscale xy\nset grid\nset key bottom left\n"
      "set xlabel 'draws per query point'\n",
      (out / "mean_value.png").string());
  const std::string data = (out / "plots" / "mean_value.dat").string();
  for (std::size_t n : {1, 2})
    for (int c : {2, 3}) {
      gp += fmt::format("set title 'n = {}: {}'\nset ylabel '{}'\nplot ", n,
                        c == 2 ? "density" : "score", c == 2 ? "relative RMSE" : "RMSE");
      for (std::size_t k = 0; k < radii.size(); ++k) {
        const std::size_t block = (n - 1) * radii.size() + k;
        gp += fmt::format("'{}' index {} using 1:{} with linespoints lw 2 title 'R = {}', ", data,
                          block, c, radii[k]);
      }
      const Row* first = &rows.front();
      gp += fmt::format("{}*sqrt({}/x) with lines dt 2 lc rgb 'black' title 'N^(-1/2)'\n",
                        c == 2 ? first->density_rel : first->score, first->samples);
    }
  gp += "unset multiplot\n";
  run_gnuplot(out / "plots" / "mean_value.gp", gp);
}

}  // namespace

void run_e5_mean_value(const ExperimentOptions& o) {
  prepare_run_dir(o.out, o.force ? RunDirMode::force : RunDirMode::fresh);
  fs::create_directories(o.out / "plots");
  const std::vector<double> radii =
      o.quick ? std::vector<double>{1.0, 3.0} : std::vector<double>{0.5, 1.0, 2.0, 3.0};
  const std::vector<std::size_t> counts = o.quick
                                              ? std::vector<std::size_t>{2000, 20000}
                                              : std::vector<std::size_t>{10000, 100000, 1000000};
  std::vector<Row> rows;
  for (std::size_t n : {1, 2})
    for (double r : radii)
      for (std::size_t m : counts) rows.push_back(study(n, r, m, o.seed));
  CsvTable table({"n", "radius", "draws", "density_rel_rmse", "score_rmse", "log_density_rmse",
                  "score_rms_se", "z_rms"});
  std::string md = fmt::format(
      "# E5: heat-ball mean-value estimates on OU with a Gaussian start\n\n"
      "Command: `scoreflow experiment e5-meanvalue{} --out {}` (seed {}). dX = −X dt + √2 dW, "
      "X₀ ~ N(0.8, 0.25 I), t = 1 (θ(t) = t, largest R = √(4π) = 3.54); 9 query points "
      "(1-D: mean ± 1.5 sd; 2-D: a 3 × 3 grid over ± 1.2 sd); default cuts (tip 10⁻³, score "
      "tip 0.05). Errors are RMS over the points against the exact Gaussian; z_rms is the RMS of "
      "(estimate − exact)/standard error over density and score (≈ 1 when the errors are the "
      "reported ones).\n\n"
      "| n | R | draws | density rel. RMSE | score RMSE | log-density RMSE | score RMS SE | z_rms "
      "|\n|---|---|---|---|---|---|---|---|\n",
      o.quick ? " --quick" : "", o.out.string(), o.seed);
  for (const Row& w : rows) {
    md += fmt::format("| {} | {} | {} | {:.4f} | {:.4f} | {:.4f} | {:.4f} | {:.2f} |\n", w.n,
                      w.radius, w.samples, w.density_rel, w.score, w.log_density, w.score_se,
                      w.z_rms);
    table.add_row({static_cast<double>(w.n), w.radius, static_cast<double>(w.samples),
                   w.density_rel, w.score, w.log_density, w.score_se, w.z_rms});
  }
  table.write(o.out / "mean_value.csv");
  write_file_atomic(o.out / "mean_value.md", md);
  plot(rows, radii, o.out);
  std::printf("%s\nwrote %s/{mean_value.md, mean_value.csv, mean_value.png}\n", md.c_str(),
              o.out.c_str());
}

}  // namespace sf
