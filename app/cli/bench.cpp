#include "cli/bench.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/malliavin/malliavin_weights.hpp>
#include <scoreflow/samplers/langevin.hpp>
#include <scoreflow/samplers/wfr.hpp>
#include <scoreflow/score/grid_gauss.hpp>
#include <scoreflow/score/heat_ball.hpp>
#include <scoreflow/score/kde.hpp>
#include <scoreflow/score/kernel_score.hpp>
#include <scoreflow/sde/forward_sde.hpp>
#include <scoreflow/targets/registry.hpp>

namespace sf {
namespace {

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

template <class F>
nlohmann::json timed(const BenchOptions& o, double work, const char* unit, F&& body) {
  check_positive("bench", "--repeats", o.repeats);
  set_thread_count(o.threads);
  std::vector<double> secs;
  for (std::size_t r = 0; r < o.repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    body(r);
    secs.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(secs.begin(), secs.end());
  const double med = secs[secs.size() / 2];
  return {{"peak_rss_mb", peak_rss_mb()}, {"median_seconds", med}, {"min_seconds", secs.front()},
          {"max_seconds", secs.back()},   {unit, work / med},      {"repeats", o.repeats},
          {"threads", thread_count()}};
}

}  // namespace

nlohmann::json bench_ula(const BenchOptions& o) {
  const std::size_t n = o.n ? o.n : 20000, steps = o.steps ? o.steps : 1000;
  const auto target = make_target(o.target);
  const Ula ula(*target, {0.01, 7});
  const auto init = make_target(fmt::format("gauss:d={}", target->dim()));
  auto j =
      timed(o, static_cast<double>(n * steps), "particle_steps_per_second", [&](std::size_t r) {
        Particles x(n, target->dim());
        init->sample(r, x.rows());
        SamplerState s = ula.init(std::move(x));
        for (std::size_t k = 0; k < steps; ++k) ula.step(s);
      });
  j["benchmark"] = "ula";
  j["target"] = target->spec().substr(0, 80);
  j["n"] = n;
  j["steps"] = steps;
  return j;
}

nlohmann::json bench_kde(const BenchOptions& o, bool with_score) {
  const std::size_t n = o.n ? o.n : 10000;
  check_positive("bench kde", "--dim", o.dim);
  Particles x(n, o.dim);
  make_target(fmt::format("gauss:d={}", o.dim))->sample(1, x.rows());
  KdeCounts counts;
  auto j = timed(o, static_cast<double>(n) * static_cast<double>(n), "pair_evaluations_per_second",
                 [&](std::size_t) {
                   if (!with_score) {
                     const double h = silverman_bandwidth(x.rows());
                     kde_log_density(x.rows(), {}, h, x.rows(), o.kde_tol, 0, &counts);
                     return;
                   }
                   const KdeEstimate e = kde_estimate(x.rows(), x.rows(), 0, {}, o.kde_tol);
                   counts = e.counts;
                 });
  j["benchmark"] = with_score ? "kde" : "kde-density";
  j["kde_tol"] = o.kde_tol;
  const GridGaussPlan plan =
      grid_gauss_plan(x.rows(), silverman_bandwidth(x.rows()), o.kde_tol > 0 ? o.kde_tol : 1e-6);
  if (o.kde_tol > 0 && grid_gauss_pays(plan, n, n))
    j["lattice"] = {{"spread_width", plan.spread_width},
                    {"spacing_over_h", plan.spacing / plan.h},
                    {"nodes", plan.lattice_size()},
                    {"spread_nodes", plan.spread_nodes},
                    {"taps", plan.taps},
                    {"relative_error", plan.relative_error}};
  j["lattice_queries"] = counts.lattice_queries;
  j["float32_queries"] = counts.float32_queries;
  j["queries_summed_exactly"] = n - counts.lattice_queries - counts.float32_queries;
  j["n"] = n;
  j["dim"] = o.dim;
  return j;
}

namespace {

// `steps` WFR steps on gmm4 from its first mode, timed as one unit.
nlohmann::json bench_wfr_steps(const BenchOptions& o, std::size_t n, std::size_t steps,
                               const std::string& density, double work, const char* unit) {
  const auto target = make_target("gmm4");
  const auto init = make_target("gauss:d=2,mean=[0,8],var=[1.2,0.01]");
  WfrConfig cfg{0.01, 3, density};
  cfg.kde_tol = o.kde_tol;
  const Wfr wfr(*target, cfg);
  auto j = timed(o, work, unit, [&](std::size_t r) {
    Particles x(n, 2);
    init->sample(r, x.rows());
    SamplerState s = wfr.init(std::move(x));
    for (std::size_t k = 0; k < steps; ++k) wfr.step(s);
  });
  j["n"] = n;
  j["steps"] = steps;
  j["density"] = density;
  j["kde_tol"] = o.kde_tol;
  j["steps_per_second"] = static_cast<double>(steps) / j["median_seconds"].get<double>();
  return j;
}

}  // namespace

nlohmann::json bench_wfr(const BenchOptions& o) {
  const std::size_t n = o.n ? o.n : 10000, steps = o.steps ? o.steps : 20;
  auto j =
      bench_wfr_steps(o, n, steps, "kde", static_cast<double>(n) * static_cast<double>(n) * steps,
                      "pair_evaluations_per_second");
  j["benchmark"] = "wfr-kde";
  return j;
}

nlohmann::json bench_wfr_gmm4(const BenchOptions& o) {
  const std::size_t n = o.n ? o.n : 500, steps = o.steps ? o.steps : 1000;
  auto j = bench_wfr_steps(o, n, steps, "ula-kernel", static_cast<double>(steps),
                           "iterations_per_second");
  j["benchmark"] = "wfr-gmm4";
  return j;
}

nlohmann::json bench_kappa(const BenchOptions& o) {
  const std::size_t n = o.dim == 2 ? 256 : o.dim, count = o.n ? o.n : 2000000;
  constexpr std::size_t kBlock = 1024;
  const std::size_t blocks = (count + kBlock - 1) / kBlock;
  std::vector<double> sink(blocks);
  auto j = timed(o, static_cast<double>(count), "samples_per_second", [&](std::size_t r) {
    parallel_rows(blocks, [&](std::size_t b) {
      const std::size_t first = b * kBlock;
      thread_local KappaDraws k;
      kappa_sample(n, first, std::min(kBlock, count - first), r, k);
      sink[b] = k.rho.back() + k.z(0, 0);  // keeps the draws observable
    });
  });
  j["benchmark"] = "kappa";
  j["dim"] = n;
  j["n"] = count;
  return j;
}

nlohmann::json bench_malliavin(const BenchOptions& o) {
  const std::size_t n = o.n ? o.n : 100000;
  const auto sde = make_forward_sde("nonlinear");
  MalliavinOptions mo;
  mo.steps = o.steps ? o.steps : 250;
  Particles start(n, 2);
  for (std::size_t p = 0; p < n; ++p) start(p, 0) = 1, start(p, 1) = -0.5;
  double sink = 0;
  auto j = timed(o, static_cast<double>(n), "weights_per_second", [&](std::size_t r) {
    mo.seed = r;
    sink += malliavin_weights(*sde, start.rows(), mo).delta[0](0, 0);
  });
  j["benchmark"] = "malliavin";
  j["sde"] = sde->name();
  j["n"] = n;
  j["steps"] = mo.steps;
  j["checksum"] = sink;  // keeps the weights observable
  return j;
}

}  // namespace sf
