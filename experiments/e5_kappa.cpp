// E5, first part (EXPERIMENTS.md): the κ-measure sampler study. For n = 1, 2, 10, 256, 784:
// 2·log(rⁿΦ(x − y, t − s)) against χ²₂ (histogram and Kolmogorov–Smirnov test), E[τ] and
// sd(ρ) against their formulas, the caloric identities E_κ[u] = u(x, t) for
// u = e^{k·x + |k|²t} and |x|² + 2nt, and the fraction of samples inside the heat ball.
#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include <scoreflow/core/io.hpp>
#include <scoreflow/plot/plot.hpp>
#include <scoreflow/score/heat_ball.hpp>
#include "experiments/experiment.hpp"

namespace sf {
namespace fs = std::filesystem;

namespace {

// P(√m D > λ) for the Kolmogorov distribution.
double ks_p_value(double d, std::size_t m) {
  const double l = std::sqrt(static_cast<double>(m)) * d;
  double p = 0;
  for (int k = 1; k <= 100; ++k) p += 2 * ((k % 2) ? 1 : -1) * std::exp(-2.0 * k * k * l * l);
  return std::clamp(p, 0.0, 1.0);
}

struct DimResult {
  std::size_t n;
  double ks_d, ks_p, inside, tau, tau_se, tau_exact, sd_rho, sd_rho_exact;
  McEstimate exp_u, quad_u;
  double exp_exact, quad_exact;
  std::vector<double> hist;  // density of 2·log(rⁿΦ) on [0, 12) in 48 bins
};

DimResult study(std::size_t n, std::size_t m, std::uint64_t seed) {
  DimResult res{};
  res.n = n;
  const KappaDraws k = kappa_sample(n, 0, m, seed);
  std::vector<double> x(n);
  for (std::size_t j = 0; j < n; ++j) x[j] = 0.3 * std::sin(static_cast<double>(j) + 1);
  const double t = 1.0, r = 1.2;
  Particles y(m, n);
  std::vector<double> s(m), v(m), dx(n);
  heat_ball_points(k, x, t, r, y.rows(), s);
  std::size_t inside = 0;
  double a = 0, a2 = 0, b = 0, b2 = 0;
  res.hist.assign(48, 0.0);
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) dx[j] = x[j] - y(i, j);
    v[i] = 2 * (static_cast<double>(n) * std::log(r) + heat_kernel_log(dx, t - s[i]));
    inside += v[i] >= -1e-9 * static_cast<double>(n);
    const double tau = (t - s[i]) / (r * r);
    a += tau, a2 += tau * tau, b += k.rho[i], b2 += k.rho[i] * k.rho[i];
    const auto bin = static_cast<std::size_t>(std::max(v[i], 0.0) / 0.25);
    if (bin < 48) res.hist[bin] += 1 / (0.25 * static_cast<double>(m));
  }
  const double dm = static_cast<double>(m);
  res.inside = static_cast<double>(inside) / dm;
  res.tau = a / dm;
  res.tau_se = std::sqrt((a2 / dm - res.tau * res.tau) / dm);
  res.tau_exact = kappa_mean_tau_over_r2(n);
  res.sd_rho = std::sqrt(b2 / dm - (b / dm) * (b / dm));
  res.sd_rho_exact = kappa_sd_rho(n);
  std::sort(v.begin(), v.end());
  for (std::size_t i = 0; i < m; ++i) {
    const double f = 1 - std::exp(-v[i] / 2);
    res.ks_d =
        std::max({res.ks_d, f - static_cast<double>(i) / dm, static_cast<double>(i + 1) / dm - f});
  }
  res.ks_p = ks_p_value(res.ks_d, m);

  const std::vector<double> kv(n, 0.6 / std::sqrt(static_cast<double>(n)));
  const auto exp_u = [&](const double* p, double time) {
    double e = 0.36 * time;
    for (std::size_t j = 0; j < n; ++j) e += kv[j] * p[j];
    return std::exp(e);
  };
  const auto quad_u = [&](const double* p, double time) {
    double q = 2 * static_cast<double>(n) * time;
    for (std::size_t j = 0; j < n; ++j) q += p[j] * p[j];
    return q;
  };
  res.exp_u = heat_ball_mean(exp_u, x, t, r, m, seed + 1);
  res.quad_u = heat_ball_mean(quad_u, x, t, r, m, seed + 2);
  res.exp_exact = exp_u(x.data(), t);
  res.quad_exact = quad_u(x.data(), t);
  return res;
}

void plot_histograms(const std::vector<DimResult>& rs, const fs::path& out) {
  std::string data;
  for (std::size_t b = 0; b < 48; ++b) {
    data += fmt::format("{}", 0.25 * (static_cast<double>(b) + 0.5));
    for (const auto& r : rs) data += fmt::format(" {}", r.hist[b]);
    data += '\n';
  }
  write_file_atomic(out / "kappa_hist.dat", data);
  std::string gp = fmt::format(
      "set terminal pngcairo size {},360 font ',10' noenhanced\nset output '{}'\nset multiplot "
      "layout 1,{} "
      "title '2 log(r^n Phi(x-y, t-s)) for kappa samples vs chi-squared(2)'\nset xrange "
      "[0:12]\nset style fill "
      "solid 0.5\n",
      300 * rs.size(), (out / "kappa_chi2.png").string(), rs.size());
  for (std::size_t k = 0; k < rs.size(); ++k)
    gp += fmt::format(
        "set title 'n = {} (KS p = {:.2f})'\nplot '{}' using 1:{} with boxes lc rgb '#6baed6' "
        "title 'samples', "
        "0.5*exp(-x/2) with lines lw 2 lc rgb '#d62728' title 'chi2(2)'\n",
        rs[k].n, rs[k].ks_p, (out / "kappa_hist.dat").string(), k + 2);
  run_gnuplot(out / "kappa_chi2.gp", gp + "unset multiplot\n");
}

}  // namespace

void run_e5_kappa(const ExperimentOptions& o) {
  prepare_run_dir(o.out, o.force ? RunDirMode::force : RunDirMode::fresh);
  const std::size_t m = o.quick ? 20000 : 200000;
  std::vector<DimResult> rs;
  for (std::size_t n : {1, 2, 10, 256, 784})
    rs.push_back(study(n, n == 784 && !o.quick ? m / 4 : m, o.seed + n));
  CsvTable table({"n", "samples_inside", "ks_d", "ks_p", "mean_tau_over_r2", "mean_tau_se",
                  "mean_tau_exact", "sd_rho", "sd_rho_exact", "exp_caloric_z",
                  "quadratic_caloric_z"});
  std::string md = fmt::format(
      "# E5: the κ-measure sampler\n\nCommand: `scoreflow experiment e5-kappa{} --out {}` (seed "
      "{}); {} samples "
      "per dimension{}, x = 0.3 sin(j + 1), t = 1, r = 1.2. z-scores are (estimate − "
      "exact)/standard error; the caloric functions are u = exp(k·x + |k|²t) with |k| = 0.6 and u "
      "= |x|² + 2nt.\n\n"
      "| n | inside the ball | KS D vs χ²₂ | KS p | E[τ]/r² (± SE) | formula | sd(ρ) | √(2n+8)/n | "
      "exp caloric z | "
      "quadratic caloric z |\n|---|---|---|---|---|---|---|---|---|---|\n",
      o.quick ? " --quick" : "", o.out.string(), o.seed, m,
      o.quick ? "" : " (a quarter of that for n = 784)");
  for (const auto& r : rs) {
    const double ze = (r.exp_u.value - r.exp_exact) / r.exp_u.std_error;
    const double zq = (r.quad_u.value - r.quad_exact) / r.quad_u.std_error;
    md += fmt::format(
        "| {} | {:.4f} | {:.4f} | {:.3f} | {:.6f} ± {:.6f} | {:.6f} | {:.4f} | {:.4f} | {:+.2f} | "
        "{:+.2f} |\n",
        r.n, r.inside, r.ks_d, r.ks_p, r.tau, r.tau_se, r.tau_exact, r.sd_rho, r.sd_rho_exact, ze,
        zq);
    table.add_row({static_cast<double>(r.n), r.inside, r.ks_d, r.ks_p, r.tau, r.tau_se, r.tau_exact,
                   r.sd_rho, r.sd_rho_exact, ze, zq});
  }
  md += "\nE[τ]/r² → 1/(4πe) = " +
        fmt::format("{:.6f}", 1 / (4 * std::numbers::pi * std::numbers::e)) + " as n → ∞.\n";
  table.write(o.out / "table.csv");
  write_file_atomic(o.out / "table.md", md);
  plot_histograms(rs, o.out);
  std::printf("%s\nwrote %s/{table.md, table.csv, kappa_chi2.png}\n", md.c_str(), o.out.c_str());
}

}  // namespace sf
