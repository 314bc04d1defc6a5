// E3 (EXPERIMENTS.md): gmm4 started in its first mode, N = 500, h = 0.01, 1000 iterations;
// biased MMD² with kernel exp(−|x − y|²) against 500 exact samples each iteration; first
// iteration with MMD² < 0.05 for ULA, birth–death, WFR-KDE and WFR with the ULA-kernel
// mixture over many repetitions. Then log Z on double-well and many-well-8, and banana.
#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include <scoreflow/core/io.hpp>
#include <scoreflow/core/npy.hpp>
#include <scoreflow/core/progress.hpp>
#include <scoreflow/diagnostics/divergences.hpp>
#include <scoreflow/diagnostics/log_normaliser.hpp>
#include <scoreflow/plot/plot.hpp>
#include <scoreflow/samplers/birth_death.hpp>
#include <scoreflow/samplers/langevin.hpp>
#include <scoreflow/samplers/registry.hpp>
#include <scoreflow/samplers/weighted.hpp>
#include <scoreflow/samplers/wfr.hpp>
#include <scoreflow/targets/registry.hpp>
#include "experiments/experiment.hpp"

namespace sf {
namespace fs = std::filesystem;

namespace {

constexpr double kThreshold = 0.05;
const double kEll = 1 / std::sqrt(2.0);  // exp(−|x−y|²) = exp(−|x−y|²/(2ℓ²))

const std::vector<std::string> kMethods = {"ula", "birth-death", "wfr-kde", "wfr-ula-kernel"};

std::unique_ptr<Sampler> make_method(const std::string& m, const Target& t, double h,
                                     std::uint64_t seed) {
  const std::string spec = m == "wfr-kde"          ? "wfr:density=kde"
                           : m == "wfr-ula-kernel" ? "wfr:density=ula-kernel"
                                                   : m;
  return make_sampler(fmt::format("{}{}step_size={:.17g}", spec,
                                  spec.find(':') == std::string::npos ? ":" : ",", h),
                      t, {seed, 1, "", false});
}

// MMD² to fixed reference samples at every iteration.
class MmdCurve : public Observer {
 public:
  MmdCurve(const Particles& ref, std::vector<double>& out) : ref_(ref), out_(out) {}
  void on_start(const SamplerState& s) override { record(s); }
  bool on_step(const SamplerState& s, const StepInfo&) override {
    record(s);
    return true;
  }

 private:
  void record(const SamplerState& s) {
    out_.push_back(mmd2(s.x.rows(), ref_.rows(), kEll, s.x.log_weights()));
  }
  const Particles& ref_;
  std::vector<double>& out_;
};

std::size_t first_below(const std::vector<double>& curve) {
  for (std::size_t k = 0; k < curve.size(); ++k)
    if (curve[k] < kThreshold) return k;
  return curve.size();  // never
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

Particles draw(const Target& t, std::size_t n, std::uint64_t seed) {
  Particles x(n, t.dim());
  t.sample(seed, x.rows());
  return x;
}

struct MethodResult {
  std::vector<std::vector<double>> curves;  // per repetition
  Particles last;                           // final particles of the first repetition
};

std::string gmm4_study(const ExperimentOptions& o, std::size_t reps, std::size_t iters,
                       CsvTable& table) {
  const auto target = make_target("gmm4");
  const auto init = make_target("gauss:d=2,mean=[0,8],var=[1.2,0.01]");
  const double h = 0.01;
  const std::size_t n = 500;
  std::vector<MethodResult> results(kMethods.size());
  Progress bar(kMethods.size() * reps, "E3 gmm4");
  for (std::size_t r = 0; r < reps; ++r) {
    const Particles ref = draw(*target, n, o.seed + 1000 + r);
    for (std::size_t m = 0; m < kMethods.size(); ++m) {
      const auto sampler = make_method(kMethods[m], *target, h, o.seed + r);
      SamplerState s = sampler->init(draw(*init, n, o.seed + r));
      std::vector<double> curve;
      MmdCurve obs(ref, curve);
      std::vector<Observer*> observers{&obs};
      run(*sampler, s, iters, observers);
      results[m].curves.push_back(std::move(curve));
      if (r == 0) results[m].last = s.x;
      bar.update(r * kMethods.size() + m + 1);
    }
  }
  bar.finish();

  // Curves: iteration, then per method the mean, 10% and 90% quantiles over repetitions.
  std::vector<std::string> cols{"iteration"};
  for (const auto& m : kMethods)
    for (const char* s : {"_mean", "_q10", "_q90"}) cols.push_back(m + s);
  CsvTable curves(cols);
  for (std::size_t k = 0; k <= iters; ++k) {
    std::vector<double> row{static_cast<double>(k)};
    for (const auto& res : results) {
      std::vector<double> v;
      for (const auto& c : res.curves) v.push_back(c[k]);
      row.push_back(std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size()));
      row.push_back(quantile(v, 0.1));
      row.push_back(quantile(v, 0.9));
    }
    curves.add_row(row);
  }
  curves.write(o.out / "gmm4_mmd_curves.csv");

  std::string md = fmt::format(
      "### gmm4 from one mode (N = {}, h = {}, {} iterations, {} repetitions)\n\n"
      "Biased MMD² with kernel exp(−|x−y|²) against {} exact samples (fresh per repetition).\n\n"
      "| method | reached MMD² < 0.05 | first iteration: median | min | 25% | 75% | max | final "
      "MMD² (mean) | "
      "reference |\n|---|---|---|---|---|---|---|---|---|\n",
      n, h, iters, reps, n);
  const std::vector<std::string> reference = {"never (ends ≈ 0.14)", "3 of 8 (ends ≈ 0.12)", "—",
                                              "269–377, mean curve 325 (ends ≈ 0.004)"};
  for (std::size_t m = 0; m < kMethods.size(); ++m) {
    std::vector<double> hits, finals;
    std::size_t reached = 0;
    for (const auto& c : results[m].curves) {
      const std::size_t f = first_below(c);
      reached += f <= iters;
      hits.push_back(f <= iters ? static_cast<double>(f) : INFINITY);
      finals.push_back(c.back());
    }
    const double final_mean =
        std::accumulate(finals.begin(), finals.end(), 0.0) / static_cast<double>(reps);
    auto cell = [](double v) {
      return std::isfinite(v) ? fmt::format("{:.0f}", v) : std::string("never");
    };
    md += fmt::format("| {} | {} of {} | {} | {} | {} | {} | {} | {:.4f} | {} |\n", kMethods[m],
                      reached, reps, cell(quantile(hits, 0.5)), cell(quantile(hits, 0)),
                      cell(quantile(hits, 0.25)), cell(quantile(hits, 0.75)),
                      cell(quantile(hits, 1)), final_mean, reference[m]);
    table.add_row({static_cast<double>(m), static_cast<double>(reached), quantile(hits, 0.5),
                   quantile(hits, 0.25), quantile(hits, 0.75), final_mean});
    write_npy(o.out / fmt::format("gmm4_final_{}.npy", kMethods[m]), {results[m].last.n(), 2},
              results[m].last.data());
    if (results[m].last.weighted()) {
      const auto w = normalised_weights(results[m].last.log_weights(), n);
      write_npy(o.out / fmt::format("gmm4_final_{}.weights", kMethods[m]), {n}, w.data());
    }
  }
  return md;
}

// log Z by importance sampling from each method's final particles (many-well has exact log Z).
std::string log_z_study(const ExperimentOptions& o, std::size_t iters) {
  std::string md = fmt::format(
      "\n### log Z (from N(0, I), N = 500, h = 0.01, {} iterations; importance sampling with a "
      "KDE-mixture "
      "proposal fitted to the final particles; mean ± sd over 5 seeds)\n\n"
      "| target | exact log Z | method | log Z error | IS std. error |\n|---|---|---|---|---|\n",
      iters);
  for (const std::string spec : {"double-well", "many-well:d=8"}) {
    const auto t = make_target(spec);
    for (const auto& m : kMethods) {
      std::vector<double> err, se;
      for (std::uint64_t r = 0; r < 5; ++r) {
        const auto sampler = make_method(m, *t, 0.01, o.seed + r);
        SamplerState s =
            sampler->init(draw(*make_target(fmt::format("gauss:d={}", t->dim())), 500, o.seed + r));
        run(*sampler, s, iters, {});
        const auto est = log_normaliser_is(s.x.rows(), s.x.log_weights(), *t, 20000, o.seed + r);
        err.push_back(est.log_z - *t->log_normaliser());
        se.push_back(est.std_error);
      }
      const double mean = std::accumulate(err.begin(), err.end(), 0.0) / 5;
      double var = 0;
      for (double e : err) var += (e - mean) * (e - mean) / 4;
      md += fmt::format("| {} | {:.4f} | {} | {:+.4f} ± {:.4f} | {:.4f} |\n", spec,
                        *t->log_normaliser(), m, mean, std::sqrt(var),
                        std::accumulate(se.begin(), se.end(), 0.0) / 5);
    }
  }
  return md;
}

std::string banana_study(const ExperimentOptions& o, std::size_t iters) {
  const auto t = make_target("banana");
  const Particles ref = draw(*t, 300, o.seed + 77);
  std::string md = fmt::format(
      "\n### banana (N = 300, h = 0.01, {} iterations, from N(0, I))\n\n| method | final MMD² | "
      "energy distance |\n"
      "|---|---|---|\n",
      iters);
  for (const auto& m : kMethods) {
    const auto sampler = make_method(m, *t, 0.01, o.seed);
    SamplerState s = sampler->init(draw(*make_target("gauss:d=2"), 300, o.seed));
    run(*sampler, s, iters, {});
    md += fmt::format("| {} | {:.4f} | {:.4f} |\n", m,
                      mmd2(s.x.rows(), ref.rows(), kEll, s.x.log_weights()),
                      energy_distance(s.x.rows(), ref.rows(), s.x.log_weights()));
  }
  return md;
}

void plot_e3(const ExperimentOptions& o, std::size_t iters) {
  std::string gp = fmt::format(
      "set terminal pngcairo size 900,560 font ',11' noenhanced\nset output '{}'\nset datafile "
      "separator ','\n"
      "set logscale y\nset xlabel 'iteration'\nset ylabel 'MMD^2 (mean and 10-90% band over "
      "repetitions)'\n"
      "set grid\nset key top right\nset arrow from 0,{} to {},{} nohead dt 2 lc rgb 'black'\nplot ",
      (o.out / "gmm4_mmd.png").string(), kThreshold, iters, kThreshold);
  const char* colours[] = {"#d62728", "#ff7f0e", "#2ca02c", "#1f77b4"};
  for (std::size_t m = 0; m < kMethods.size(); ++m)
    gp += fmt::format(
        "'{0}' using 1:{1}:{2} with filledcurves fs transparent solid 0.15 lc rgb '{3}' notitle, "
        "'{0}' using 1:{4} with lines lw 2 lc rgb '{3}' title '{5}'{6}",
        (o.out / "gmm4_mmd_curves.csv").string(), 3 * m + 3, 3 * m + 4, colours[m], 3 * m + 2,
        kMethods[m], m + 1 < kMethods.size() ? ", " : "\n");
  run_gnuplot(o.out / "gmm4_mmd.gp", gp);

  const auto target = make_target("gmm4");
  std::vector<ParticlePanel> panels;
  for (const auto& m : kMethods)
    panels.push_back({m, o.out / fmt::format("gmm4_final_{}.npy", m),
                      o.out / fmt::format("gmm4_final_{}.weights", m)});
  plot_particle_panels(*target, panels, o.out / "gmm4_particles.png");
}

}  // namespace

void run_e3(const ExperimentOptions& o) {
  prepare_run_dir(o.out, o.force ? RunDirMode::force : RunDirMode::fresh);
  const std::size_t reps = o.quick ? 4 : 20, iters = o.quick ? 400 : 1000;
  CsvTable table({"method", "reached", "first_hit_median", "first_hit_q25", "first_hit_q75",
                  "final_mmd2_mean"});
  std::string md = "# E3: WFR weighted SDE vs Langevin on mode-hopping targets\n\n";
  md += fmt::format("Command: `scoreflow experiment e3{} --out {}` (seed {}). Methods: {}.\n\n",
                    o.quick ? " --quick" : "", o.out.string(), o.seed, fmt::join(kMethods, ", "));
  md += gmm4_study(o, reps, iters, table);
  md += log_z_study(o, o.quick ? 300 : 1000);
  md += banana_study(o, o.quick ? 500 : 3000);
  table.write(o.out / "table.csv");
  write_file_atomic(o.out / "table.md", md);
  plot_e3(o, iters);
  std::printf("%s\nwrote %s/{table.md, table.csv, gmm4_mmd.png, gmm4_particles.png}\n", md.c_str(),
              o.out.c_str());
}

}  // namespace sf
