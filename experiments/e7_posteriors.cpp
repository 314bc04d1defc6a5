// E7 (issue 19): real posteriors — Bayesian logistic regression on three data sets and the
// log-Gaussian Cox process of the Finnish pines — sampled by every method at one budget of
// target-gradient evaluations (N particles × T steps), against a gold standard the
// experiment computes itself: log Z by annealed importance sampling with many more
// particles and steps (independent runs give its standard error), posterior means and
// variances by long MALA chains started from the AIS particles (their R̂ is reported).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <tuple>

#include <fmt/format.h>

#include <scoreflow/core/io.hpp>
#include <scoreflow/core/progress.hpp>
#include <scoreflow/core/rng.hpp>
#include <scoreflow/diagnostics/log_normaliser.hpp>
#include <scoreflow/diagnostics/mcmc_convergence.hpp>
#include <scoreflow/diagnostics/summary_stats.hpp>
#include <scoreflow/plot/plot.hpp>
#include <scoreflow/samplers/registry.hpp>
#include <scoreflow/samplers/weighted.hpp>
#include <scoreflow/targets/registry.hpp>
#include "experiments/experiment.hpp"

namespace sf {
namespace fs = std::filesystem;

namespace {

struct PosteriorCase {
  std::string name, spec;
  std::size_t n, steps;                       // the budget: n particles (or chains) × steps
  std::size_t gold_runs, gold_n, gold_steps;  // AIS for log Z
  std::size_t chains, warmup, draws;          // MALA for the moments
};

std::vector<PosteriorCase> cases(bool quick) {
  if (quick)
    return {{"breast-cancer", "logreg:data=breast-cancer", 100, 300, 2, 200, 500, 8, 300, 1000},
            {"sonar", "logreg:data=sonar", 100, 300, 2, 200, 500, 8, 300, 1000},
            {"ionosphere", "logreg:data=ionosphere", 100, 300, 2, 200, 500, 8, 300, 1000},
            {"lgcp-16", "lgcp:grid=16,whiten=true", 50, 200, 2, 100, 300, 8, 200, 600}};
  return {
      {"breast-cancer", "logreg:data=breast-cancer", 200, 1000, 4, 1000, 4000, 16, 5000, 100000},
      {"sonar", "logreg:data=sonar", 200, 1000, 4, 1000, 4000, 16, 5000, 100000},
      {"ionosphere", "logreg:data=ionosphere", 200, 1000, 4, 1000, 4000, 16, 5000, 100000},
      {"lgcp-40", "lgcp:grid=40,whiten=true", 100, 500, 4, 100, 1000, 8, 1000, 12000}};
}

// SBTM retrains a network on the particles at every step; beyond this dimension a few hundred
// particles cannot teach it a score.
constexpr std::size_t kSbtmMaxDim = 64;

Particles standard_normal(std::size_t n, std::size_t d, std::uint64_t seed) {
  Particles x(n, d);
  for (std::size_t i = 0; i < n; ++i) {
    Draws r(seed, Stream::init, i, 0);
    for (std::size_t k = 0; k < d; ++k) x(i, k) = r.normal();
  }
  return x;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// ---- The gold standard ------------------------------------------------------------------

struct GoldLogZ {
  double log_z = NAN, se = NAN;
  Particles particles;  // the first run's final particles, resampled to equal weights
};

// log of the mean of Ẑ over independent runs, and its SE by the delta method: one run's
// weights give no honest SE (resampling correlates them).
std::pair<double, double> pooled_log_z(const std::vector<double>& log_z) {
  const double mx = *std::max_element(log_z.begin(), log_z.end());
  const auto k = static_cast<double>(log_z.size());
  double m = 0, m2 = 0;
  for (double v : log_z) m += std::exp(v - mx) / k;
  for (double v : log_z) m2 += std::pow(std::exp(v - mx) - m, 2);
  const double se = log_z.size() > 1 ? std::sqrt(m2 / (k - 1)) / std::sqrt(k) / m : NAN;
  return {mx + std::log(m), se};
}

GoldLogZ gold_log_z(const Target& t, const PosteriorCase& c, double h, std::uint64_t seed) {
  std::vector<double> log_z;
  GoldLogZ g;
  for (std::size_t r = 0; r < c.gold_runs; ++r) {
    const auto ais = make_sampler(fmt::format("ais:step_size={:.17g},anneal_fraction=0.8", h), t,
                                  {seed + 1000 + r, c.gold_steps, "", false});
    SamplerState s = ais->init(standard_normal(c.gold_n, t.dim(), seed + 2000 + r));
    run(*ais, s, c.gold_steps, {});
    log_z.push_back(s.log_normaliser + log_mean_weight(s.x.log_weights()));
    if (r == 0) {
      StepInfo info;
      maybe_resample(s, systematic_resample, 1.0, seed + 3000, info);
      g.particles = s.x;
      g.particles.log_weights().clear();
    }
  }
  std::tie(g.log_z, g.se) = pooled_log_z(log_z);
  return g;
}

// Moments and convergence of MALA chains: running sums over every coordinate, and the draws
// of up to 100 coordinates (all when d ≤ 100) for R̂ and ESS.
struct ChainSummary {
  Particles last;  // the chains' final states
  Eigen::VectorXd mean, var;
  double max_rhat = NAN, min_ess_bulk = NAN, acceptance = NAN;
  std::vector<std::size_t> tracked;
  std::vector<std::vector<double>> traces;  // per tracked coordinate, chain-major, thinned
};

// Draws kept per chain for R̂ and ESS; longer chains are thinned to this.
constexpr std::size_t kMaxKeptDraws = 2000;

// Step size for MALA on the target: adapted over `iters` steps towards 0.574 acceptance
// (Roberts & Rosenthal's optimum), from h0; deterministic for a seed.
double tune_mala_step(const Target& t, Particles x, double h0, std::size_t iters,
                      std::uint64_t seed) {
  double log_h = std::log(h0);
  const auto first =
      make_sampler(fmt::format("mala:step_size={:.17g}", h0), t, {seed, iters, "", false});
  SamplerState s = first->init(std::move(x));
  for (std::size_t k = 0; k < iters; ++k) {
    const auto m = make_sampler(fmt::format("mala:step_size={:.17g}", std::exp(log_h)), t,
                                {seed, iters, "", false});
    const double acc = m->step(s).acceptance;
    log_h += (acc - 0.574) / std::sqrt(1.0 + static_cast<double>(k) / 10);
  }
  return std::exp(log_h);
}

ChainSummary run_chains(const Target& t, Particles x0, double h, std::size_t warmup,
                        std::size_t draws, std::uint64_t seed) {
  const std::size_t m = x0.n(), d = t.dim();
  const auto mala = make_sampler(fmt::format("mala:step_size={:.17g}", h), t, {seed, 0, "", false});
  SamplerState s = mala->init(std::move(x0));
  for (std::size_t k = 0; k < warmup; ++k) mala->step(s);
  ChainSummary c;
  const std::size_t stride = std::max<std::size_t>(1, d / 100);
  for (std::size_t k = 0; k < d; k += stride) c.tracked.push_back(k);
  const std::size_t thin = (draws + kMaxKeptDraws - 1) / kMaxKeptDraws, kept = draws / thin;
  c.traces.assign(c.tracked.size(), std::vector<double>(m * kept));
  Eigen::VectorXd sum = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(d)), sum2 = sum;
  double acc = 0;
  for (std::size_t i = 0; i < draws; ++i) {
    acc += mala->step(s).acceptance / static_cast<double>(draws);
    const auto X = s.x.rows().eigen();
    sum += X.colwise().sum().transpose();
    sum2 += X.array().square().colwise().sum().matrix().transpose();
    if (i % thin != 0 || i / thin >= kept) continue;
    for (std::size_t q = 0; q < c.tracked.size(); ++q)
      for (std::size_t j = 0; j < m; ++j) c.traces[q][j * kept + i / thin] = s.x(j, c.tracked[q]);
  }
  c.last = s.x;
  const double total = static_cast<double>(m * draws);
  c.mean = sum / total;
  c.var = (sum2 / total).array() - c.mean.array().square();
  c.acceptance = acc;
  c.max_rhat = 0;
  c.min_ess_bulk = INFINITY;
  for (const auto& tr : c.traces) {
    const Chains ch{tr, m, kept};
    c.max_rhat = std::max(c.max_rhat, rhat_rank(ch));
    c.min_ess_bulk = std::min(c.min_ess_bulk, ess_bulk(ch));
  }
  return c;
}

// ---- The methods at the budget ----------------------------------------------------------

struct MethodRun {
  std::string method;
  std::size_t steps = 0;
  double grad_evals = 0, seconds = 0;
  double log_z = NAN, log_z_se = NAN, is_ess = NAN;
  std::string log_z_source;
  double mean_err = NAN, var_err = NAN;
  double ess = NAN;  // MALA: min bulk ESS over coordinates; particle methods: Kish ESS
  Eigen::VectorXd mean, var;
  Particles final;  // for the marginal plots
};

const std::vector<std::string> kE7Methods = {
    "mala", "ais", "annealed-ula-fk", "wfr-kde", "wfr-ula-kernel", "birth-death", "sbtm"};

std::string sampler_spec(const std::string& method, double h) {
  const std::string hs = fmt::format("step_size={:.17g}", h);
  if (method == "ais") return "ais:anneal_fraction=0.5," + hs;
  if (method == "annealed-ula-fk") return "annealed-ula:fk_weights=true,anneal_fraction=0.5," + hs;
  if (method == "wfr-kde") return "wfr:density=kde," + hs;
  if (method == "wfr-ula-kernel") return "wfr:density=ula-kernel," + hs;
  return method + ":" + hs;
}

// Standardised errors against the gold moments: RMS over coordinates of (m − m*)/sd* and of
// v/v* − 1.
void score_moments(MethodRun& r, const ChainSummary& gold) {
  const Eigen::ArrayXd sd = gold.var.array().sqrt();
  r.mean_err = std::sqrt(((r.mean - gold.mean).array() / sd).square().mean());
  r.var_err = std::sqrt((r.var.array() / gold.var.array() - 1).square().mean());
}

MethodRun run_method(const Target& t, const std::string& method, const PosteriorCase& c,
                     std::size_t steps, double h, const ChainSummary& gold, std::uint64_t seed,
                     std::size_t fk_replicates) {
  MethodRun r;
  r.method = method;
  r.steps = steps;
  r.grad_evals = static_cast<double>(c.n * steps);
  const auto t0 = std::chrono::steady_clock::now();
  const Particles x0 = standard_normal(c.n, t.dim(), seed + 7);  // the prior (white coordinates)
  if (method == "mala") {
    // c.n chains; moments and ESS from the second half of the draws.
    const ChainSummary ch = run_chains(t, x0, h, steps / 2, steps - steps / 2, seed);
    r.seconds = seconds_since(t0);
    r.mean = ch.mean, r.var = ch.var;
    r.ess = ch.min_ess_bulk;
    r.final = ch.last;
  } else {
    const auto sampler = make_sampler(sampler_spec(method, h), t, {seed, steps, "", false});
    SamplerState s = sampler->init(x0);
    run(*sampler, s, steps, {});
    r.seconds = seconds_since(t0);
    r.final = s.x;
    const auto& lw = s.x.log_weights();
    r.mean = weighted_mean(s.x.rows(), lw);
    r.var = weighted_cov(s.x.rows(), lw).diagonal();
    r.ess =
        s.x.weighted() ? normalised_ess(lw) * static_cast<double>(c.n) : static_cast<double>(c.n);
    if (sampler->config().value("fk_weights", false)) {
      std::vector<double> log_z{s.log_normaliser + log_mean_weight(lw)};
      for (std::size_t k = 1; k < fk_replicates; ++k) {
        const auto again =
            make_sampler(sampler_spec(method, h), t, {seed + 1000 * k, steps, "", false});
        SamplerState sk = again->init(standard_normal(c.n, t.dim(), seed + 1000 * k + 7));
        run(*again, sk, steps, {});
        log_z.push_back(sk.log_normaliser + log_mean_weight(sk.x.log_weights()));
      }
      std::tie(r.log_z, r.log_z_se) = pooled_log_z(log_z);
      r.log_z_source = fmt::format("FK weights, {} runs", log_z.size());
    }
  }
  if (r.log_z_source.empty()) {
    const auto est =
        log_normaliser_is_gaussian(r.final.rows(), r.final.log_weights(), t, 10 * c.n, seed + 11);
    r.log_z = est.log_z, r.log_z_se = est.std_error, r.is_ess = est.ess;
    r.log_z_source = "IS, Gaussian fit";
  }
  score_moments(r, gold);
  return r;
}

std::string cell(double v, const char* f = "{:.3g}") {
  return std::isfinite(v) ? fmt::format(fmt::runtime(f), v) : std::string("—");
}

// Weighted histograms of three coordinates: gold MALA draws and each method's particles.
void write_marginals(const fs::path& csv, const ChainSummary& gold,
                     const std::vector<MethodRun>& runs) {
  const std::vector<std::size_t> coords = {0, gold.tracked.size() / 2, gold.tracked.size() - 1};
  constexpr std::size_t kBins = 25;
  std::vector<std::string> cols{"coordinate", "x", "gold"};
  for (const auto& r : runs) cols.push_back(r.method);
  CsvTable table(cols);
  for (std::size_t q : coords) {
    const auto& tr = gold.traces[q];
    const std::size_t k = gold.tracked[q];
    const auto [lo_it, hi_it] = std::minmax_element(tr.begin(), tr.end());
    const double pad = 0.1 * (*hi_it - *lo_it), lo = *lo_it - pad, hi = *hi_it + pad;
    const double width = (hi - lo) / kBins;
    auto histogram = [&](auto value_of, std::size_t n, std::span<const double> w) {
      std::vector<double> h(kBins, 0.0);
      double total = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const double v = value_of(i), wi = w.empty() ? 1.0 : w[i];
        total += wi;
        if (v >= lo && v < hi) h[static_cast<std::size_t>((v - lo) / width)] += wi;
      }
      for (double& b : h) b /= total * width;
      return h;
    };
    std::vector<std::vector<double>> hs;
    hs.push_back(histogram([&](std::size_t i) { return tr[i]; }, tr.size(), {}));
    for (const auto& r : runs) {
      const auto w = r.final.weighted() ? normalised_weights(r.final.log_weights(), r.final.n())
                                        : std::vector<double>{};
      hs.push_back(histogram([&](std::size_t i) { return r.final(i, k); }, r.final.n(), w));
    }
    for (std::size_t b = 0; b < kBins; ++b) {
      std::vector<double> row{static_cast<double>(k), lo + (static_cast<double>(b) + 0.5) * width};
      for (const auto& h : hs) row.push_back(h[b]);
      table.add_row(row);
    }
  }
  table.write(csv);
}

const char* kE7Colours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                            "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

// |log Z error| against the budget, in gradient evaluations (left) and seconds (right).
void plot_log_z_curves(const fs::path& csv, const fs::path& png, const std::string& title,
                       const std::vector<std::string>& methods) {
  std::string gp = fmt::format(
      "set terminal pngcairo size 1300,520 font ',11' noenhanced\nset output '{}'\n"
      "set datafile separator ','\nset logscale xy\nset grid\n"
      "set multiplot layout 1,2 title '{}: |log Z error| against the AIS gold standard'\n"
      "set ylabel '|log Z - log Z_gold|'\n",
      png.string(), title);
  for (const auto& [column, label] :
       {std::pair{2, "target-gradient evaluations"}, std::pair{3, "seconds (this machine)"}}) {
    gp += fmt::format("set xlabel '{}'\nset key {} font ',9'\nplot ", label,
                      column == 2 ? "bottom left" : "off");
    for (std::size_t m = 0; m < methods.size(); ++m)
      gp += fmt::format(
          "'{}' using ($1 == {} ? ${} : 1/0):(abs($4)) with linespoints lw 2 pt 7 "
          "lc rgb '{}' title '{}'{}",
          csv.string(), m, column, kE7Colours[m % 8], methods[m],
          m + 1 < methods.size() ? ", " : "\n");
  }
  gp += "unset multiplot\n";
  run_gnuplot(fs::path(png).replace_extension(".gp"), gp);
}

void plot_marginals(const fs::path& csv, const fs::path& png, const std::string& title,
                    const std::vector<std::string>& methods,
                    const std::vector<std::size_t>& coords) {
  std::string gp = fmt::format(
      "set terminal pngcairo size 1400,450 font ',10' noenhanced\nset output '{}'\n"
      "set datafile separator ','\nset multiplot layout 1,{} title '{}: marginal densities "
      "(gold: long MALA chains)'\nset key top right font ',8'\n",
      png.string(), coords.size(), title);
  for (std::size_t k : coords) {
    gp += fmt::format(
        "set title 'coordinate {}'\nplot '{}' using ($1 == {} ? $2 : 1/0):3 with "
        "lines lw 3 lc rgb 'black' title 'gold'",
        k, csv.string(), k);
    for (std::size_t m = 0; m < methods.size(); ++m)
      gp += fmt::format(
          ", '' using ($1 == {} ? $2 : 1/0):{} with lines lw 1.5 lc rgb '{}' "
          "title '{}'",
          k, m + 4, kE7Colours[m % 8], methods[m]);
    gp += "\n";
  }
  gp += "unset multiplot\n";
  run_gnuplot(fs::path(png).replace_extension(".gp"), gp);
}

// The same wall time for every method: MALA's time at the full gradient budget. Each method
// gets the steps that fit, from its own measured cost per step there (annealing schedules
// need the run length up front), at most 20 T. Seconds vary by machine and load, so this
// table is reproducible only in its method, not in its digits.
std::string wall_time_study(const Target& t, const PosteriorCase& c, double h,
                            const ChainSummary& gold, double gold_log_z,
                            const std::vector<MethodRun>& at_budget, const ExperimentOptions& o) {
  const double budget = at_budget.front().seconds;  // MALA's
  std::string md = fmt::format(
      "\nSame wall time ({:.2f} s, MALA's at the gradient budget; steps from each method's "
      "measured cost per step, at most 20 T):\n\n"
      "| method | steps | gradient evaluations | log Z error | mean error | var error | seconds "
      "|\n|---|---|---|---|---|---|---|\n",
      budget);
  for (std::size_t m = 0; m < at_budget.size(); ++m) {
    const auto& b = at_budget[m];
    const double per_step = b.seconds / static_cast<double>(b.steps);
    const auto steps = static_cast<std::size_t>(
        std::clamp(std::floor(budget / per_step), 2.0, 20.0 * static_cast<double>(c.steps)));
    const MethodRun r = run_method(t, b.method, c, steps, h, gold, o.seed + 100 * m + 50, 1);
    md += fmt::format("| {} | {} | {:.3g} | {} | {} | {} | {:.2f} |\n", r.method, steps,
                      r.grad_evals, cell(r.log_z - gold_log_z, "{:+.2f}"),
                      cell(r.mean_err, "{:.3f}"), cell(r.var_err, "{:.3f}"), r.seconds);
  }
  return md;
}

std::string study(const PosteriorCase& c, std::size_t case_index, const ExperimentOptions& o,
                  CsvTable& table, CsvTable& curves) {
  const auto t = make_target(c.spec);
  const std::size_t d = t->dim();
  const auto t0 = std::chrono::steady_clock::now();
  std::printf("E7 %s (d = %zu): tuning the step size, gold standard ...\n", c.name.c_str(), d);
  std::fflush(stdout);
  const double h =
      tune_mala_step(*t, standard_normal(c.chains, d, o.seed + 5), 0.01, c.warmup, o.seed + 6);
  const GoldLogZ gz = gold_log_z(*t, c, h, o.seed);
  Particles start(c.chains, d);
  std::copy_n(gz.particles.data(), c.chains * d, start.data());
  const ChainSummary gold = run_chains(*t, std::move(start), h, c.warmup, c.draws, o.seed + 8);
  const double gold_seconds = seconds_since(t0);

  std::vector<std::string> methods;
  for (const auto& m : kE7Methods) {
    const bool sbtm_here = sampler_registry().contains("sbtm") && d <= kSbtmMaxDim &&
                           !(o.quick && case_index > 0);  // the quick run keeps it short
    if (m == "sbtm" && !sbtm_here) continue;
    methods.push_back(m);
  }
  const std::vector<std::size_t> budgets =
      o.quick ? std::vector<std::size_t>{c.steps / 2, c.steps}
              : std::vector<std::size_t>{c.steps / 4, c.steps / 2, c.steps};
  std::vector<MethodRun> runs;
  CsvTable curve({"method", "grad_evals", "seconds", "log_z_error", "mean_err", "var_err"});
  Progress bar(methods.size() * budgets.size(), "E7 " + c.name);
  std::size_t done = 0;
  for (std::size_t m = 0; m < methods.size(); ++m) {
    const auto global = static_cast<double>(
        std::find(kE7Methods.begin(), kE7Methods.end(), methods[m]) - kE7Methods.begin());
    for (std::size_t steps : budgets) {
      // FK methods repeat their full-budget run for an SE of log Z (time: one run's).
      const std::size_t reps = steps == c.steps ? (o.quick ? 2 : 4) : 1;
      MethodRun r = run_method(*t, methods[m], c, steps, h, gold, o.seed + 100 * m, reps);
      curve.add_row({static_cast<double>(m), r.grad_evals, r.seconds, r.log_z - gz.log_z,
                     r.mean_err, r.var_err});
      curves.add_row({static_cast<double>(case_index), global, r.grad_evals, r.seconds,
                      r.log_z - gz.log_z, r.mean_err, r.var_err});
      bar.update(++done, methods[m]);
      if (steps == c.steps) runs.push_back(std::move(r));
    }
  }
  bar.finish();
  const fs::path curve_csv = o.out / fmt::format("log_z_curve_{}.csv", c.name);
  curve.write(curve_csv);
  plot_log_z_curves(curve_csv, o.out / fmt::format("log_z_{}.png", c.name), c.name, methods);

  std::string md = fmt::format(
      "\n### {} (`{}`, d = {})\n\n"
      "Budget: N = {} particles (MALA: chains) × T = {} steps = {:.3g} target-gradient "
      "evaluations, all from N(0, I) (the prior; LGCP in white coordinates), step size h = {:.4g} "
      "(MALA tuned to acceptance 0.574). Gold standard ({:.0f} s): log Z = **{:.3f} ± {:.3f}** "
      "by AIS ({} independent runs × {} particles × {} MALA steps along the geometric path from "
      "the prior); moments from {} MALA chains × {} draws after {} warm-up, started from the AIS "
      "particles: max R̂ = {:.4f} (rank-normalised split-R̂ over {} coordinates), min bulk ESS "
      "= {:.0f}, acceptance {:.2f}.\n\n"
      "| method | log Z | error vs gold | how (SE; IS ESS) | mean error | var error | ESS | "
      "ESS / 1000 grads | ESS / s | seconds |\n|---|---|---|---|---|---|---|---|---|---|\n",
      c.name, c.spec, d, c.n, c.steps, static_cast<double>(c.n * c.steps), h, gold_seconds,
      gz.log_z, gz.se, c.gold_runs, c.gold_n, c.gold_steps, c.chains, c.draws, c.warmup,
      gold.max_rhat, gold.tracked.size(), gold.min_ess_bulk, gold.acceptance);
  for (const auto& r : runs) {
    const std::string source =
        std::isfinite(r.is_ess)
            ? fmt::format("IS (SE {}, ESS {})", cell(r.log_z_se, "{:.2g}"),
                          cell(r.is_ess, "{:.2g}"))
            : fmt::format("{} (SE {})", r.log_z_source, cell(r.log_z_se, "{:.2g}"));
    md += fmt::format("| {} | {} | {} | {} | {} | {} | {:.0f} | {} | {} | {:.1f} |\n", r.method,
                      cell(r.log_z, "{:.2f}"), cell(r.log_z - gz.log_z, "{:+.2f}"), source,
                      cell(r.mean_err, "{:.3f}"), cell(r.var_err, "{:.3f}"), r.ess,
                      cell(1000 * r.ess / r.grad_evals, "{:.3g}"),
                      cell(r.ess / r.seconds, "{:.3g}"), r.seconds);
    table.add_row({static_cast<double>(d), r.grad_evals, r.log_z, gz.log_z, gz.se, r.log_z_se,
                   r.mean_err, r.var_err, r.ess, r.seconds, gold.max_rhat});
  }
  if (d > kSbtmMaxDim)
    md += fmt::format(
        "\nSBTM is not run here: d = {} > {}; its network would have to learn a "
        "{}-dimensional score from {} particles at every step.\n",
        d, kSbtmMaxDim, d, c.n);
  else if (!sampler_registry().contains("sbtm"))
    md += "\nSBTM is not run: this build has no LibTorch.\n";
  else if (o.quick && case_index > 0)
    md +=
        "\nSBTM runs on the first posterior only in the quick version (it trains a network at "
        "every step).\n";
  md += wall_time_study(*t, c, h, gold, gz.log_z, runs, o);
  const fs::path marg = o.out / fmt::format("marginals_{}.csv", c.name);
  write_marginals(marg, gold, runs);
  const std::vector<std::size_t> coords = {gold.tracked[0], gold.tracked[gold.tracked.size() / 2],
                                           gold.tracked.back()};
  plot_marginals(marg, o.out / fmt::format("marginals_{}.png", c.name), c.name, methods, coords);
  return md;
}

}  // namespace

void run_e7(const ExperimentOptions& o) {
  prepare_run_dir(o.out, o.force ? RunDirMode::force : RunDirMode::fresh);
  const auto all = cases(o.quick);
  CsvTable table({"d", "grad_evals", "log_z", "log_z_gold", "log_z_gold_se", "log_z_se", "mean_err",
                  "var_err", "ess", "seconds", "gold_max_rhat"});
  CsvTable curves(
      {"case", "method", "grad_evals", "seconds", "log_z_error", "mean_err", "var_err"});
  std::string md = "# E7: real posteriors\n\n";
  md += fmt::format(
      "Command: `scoreflow experiment e7{} --out {}` (seed {}). Errors of the moments are RMS "
      "over coordinates of (m − m*)/sd* and v/v* − 1 against the gold chains. ESS: MALA's bulk "
      "ESS of the second half of its chains (min over coordinates); for particle methods the "
      "number of particles (Kish ESS when weighted), which ignores their bias: the error "
      "columns show it. log Z of methods with FK weights: log of the mean Ẑ over {} "
      "independent runs at the full budget, SE from their spread (the other columns are the "
      "first run's); of the others: importance sampling with a Gaussian fitted to the final "
      "particles (10 N draws), SE by the delta method and the ESS of its weights — an SE "
      "with an ESS near 0 is not to be trusted.\n",
      o.quick ? " --quick" : "", o.out.string(), o.seed, o.quick ? 2 : 4);
  for (std::size_t i = 0; i < all.size(); ++i) md += study(all[i], i, o, table, curves);
  md += fmt::format("\nMethods in curves.csv and table.csv, by index: {}.\n",
                    fmt::join(kE7Methods, ", "));
  table.write(o.out / "table.csv");
  curves.write(o.out / "curves.csv");
  write_file_atomic(o.out / "table.md", md);
  std::printf("%s\nwrote %s/{table.md, table.csv, curves.csv, marginals_*.png, log_z_*.png}\n",
              md.c_str(), o.out.c_str());
}

}  // namespace sf
