#include <scoreflow/runs/estimate_malliavin.hpp>

#include <algorithm>
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
#include <scoreflow/malliavin/conditional_score.hpp>
#include <scoreflow/malliavin/malliavin_weights.hpp>
#include <scoreflow/plot/plot.hpp>
#include <scoreflow/runs/query_points.hpp>
#include <scoreflow/sde/fokker_planck.hpp>
#include <scoreflow/sde/forward_sde.hpp>

namespace fs = std::filesystem;

namespace sf {
namespace {

// One path per row of the start file, cycled to `paths` rows; or the fixed point --x0.
Particles start_points(const MalliavinEstimateOptions& o) {
  check_positive("estimate malliavin", "--paths", o.paths);
  NpyArray rows;
  if (o.start.empty()) {
    rows.values = parse_point(o.x0, "--x0");
    rows.shape = {1, rows.values.size()};
  } else {
    rows = read_npy(o.start);
    if (rows.shape.size() != 2 || rows.shape[0] == 0)
      throw InvalidArgument(fmt::format("--start {}: expected a non-empty N x d array", o.start));
  }
  const std::size_t d = rows.shape[1];
  check_memory_fits("estimate malliavin: the paths",
                    malliavin_memory_bytes(o.paths, d, 1) +
                        8.0 * static_cast<double>(o.paths) * static_cast<double>(d),
                    "use fewer paths or snapshots");
  Particles p(o.paths, d);
  for (std::size_t i = 0; i < o.paths; ++i)
    std::copy_n(&rows.values[(i % rows.shape[0]) * d], d, p.row(i));
  return p;
}

// Every process's paths in global order (this process's own, uncopied, when it is alone).
Particles all_paths(Particles mine, std::size_t n, const Comm& comm) {
  if (!comm.distributed()) return mine;
  return Particles(n, mine.d(), comm.all_rows(mine.values(), n, mine.d()));
}

// The estimate at each process's share of the query points, gathered at the root. Each
// point's estimate reads all paths, so the split does not change it.
ConditionalScore sharded_conditional_score(const Particles& x, const Particles& delta,
                                           const Particles& at, double h,
                                           const std::string& regression, const Comm& comm) {
  const Shard mine = comm.shard(at.n());
  const auto part =
      kernel_conditional_score(x.rows(), delta.rows(), at.rows().slice(mine.first, mine.count), h,
                               kernel_regression_by_name(regression));
  if (!comm.distributed()) return part;
  const std::size_t d = at.d();
  auto score = comm.rows_at_root(part.score.values(), at.n(), d);
  auto se = comm.rows_at_root(part.standard_error.values(), at.n(), d);
  auto effective = comm.rows_at_root(part.effective_paths, at.n(), 1);
  if (!comm.root()) return {};
  ConditionalScore all;
  all.score = Particles(at.n(), d, std::move(score));
  all.standard_error = Particles(at.n(), d, std::move(se));
  all.effective_paths = std::move(effective);
  return all;
}

nlohmann::json write_estimate(const MalliavinEstimateOptions& o, const ForwardSde& sde,
                              const Particles& start, const Particles& x, const Particles& delta,
                              const Particles& at, const ConditionalScore& est, double h,
                              double seconds, int processes);

}  // namespace

nlohmann::json run_estimate_malliavin(const MalliavinEstimateOptions& o) {
  if (!(o.bandwidth >= 0))
    throw InvalidArgument(fmt::format(
        "estimate malliavin: --bandwidth is {}, but must be positive (or 0 for Scott's rule)",
        o.bandwidth));
  const auto sde = make_forward_sde(o.sde);
  const Particles start = start_points(o);
  if (o.at.empty() && start.d() > 2)
    throw InvalidArgument(
        fmt::format("estimate malliavin: in dimension {} give the query points "
                    "with --at (the default grid covers d <= 2)",
                    start.d()));
  const Comm& comm = Comm::world();
  if (o.paths < static_cast<std::size_t>(comm.size()))
    throw InvalidArgument(fmt::format(
        "estimate malliavin: --paths {} is smaller than the {} processes; give each a path",
        o.paths, comm.size()));
  comm.on_root([&] { prepare_run_dir(o.out, o.force ? RunDirMode::force : RunDirMode::fresh); });
  MalliavinOptions mo;
  mo.horizon = o.horizon;
  mo.steps = o.steps;
  mo.seed = o.seed;
  mo.correction = !o.no_correction;
  const Shard mine = comm.shard(o.paths);
  mo.first_path = mine.first;
  const auto t0 = std::chrono::steady_clock::now();
  MalliavinPaths paths = malliavin_weights(*sde, start.rows().slice(mine.first, mine.count), mo);
  // Every process regresses over all paths (at its share of the query points).
  const std::size_t d = start.d();
  const Particles x = all_paths(std::move(paths.x.back()), o.paths, comm);
  const Particles delta = all_paths(std::move(paths.delta.back()), o.paths, comm);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const Particles at =
      o.at.empty() ? quantile_grid(x, d == 1 ? o.points : std::min<std::size_t>(o.points, 15))
                   : read_queries(o.at, d);
  const double h =
      o.bandwidth > 0 ? o.bandwidth : default_conditional_bandwidth(x.rows());  // 0: auto
  const auto est = sharded_conditional_score(x, delta, at, h, o.regression, comm);
  nlohmann::json summary;
  comm.on_root([&] {
    summary = write_estimate(o, *sde, start, x, delta, at, est, h, seconds, comm.size());
  });
  return summary;
}

namespace {

nlohmann::json write_estimate(const MalliavinEstimateOptions& o, const ForwardSde& sde,
                              const Particles& start, const Particles& x, const Particles& delta,
                              const Particles& at, const ConditionalScore& est, double h,
                              double seconds, int processes) {
  const std::size_t d = x.d();
  std::vector<std::string> cols = {"y0"};
  if (d == 2) cols.push_back("y1");
  for (std::size_t i = 0; i < d; ++i) {
    cols.push_back(fmt::format("score{}", i));
    cols.push_back(fmt::format("se{}", i));
  }
  const bool with_reference = o.reference && o.start.empty() && d <= 2;
  if (with_reference)
    for (std::size_t i = 0; i < d; ++i) cols.push_back(fmt::format("reference{}", i));
  CsvTable table(cols);
  nlohmann::json summary = {{"command", "estimate malliavin"},
                            {"sde", sde.name()},
                            {"paths", o.paths},
                            {"steps", o.steps},
                            {"T", o.horizon},
                            {"seed", o.seed},
                            {"correction", !o.no_correction},
                            {"bandwidth", h},
                            {"regression", o.regression},
                            {"seconds_paths", seconds},
                            {"weights_per_second", static_cast<double>(o.paths) / seconds},
                            {"processes", processes},
                            {"communication", traffic_json(Comm::world().traffic())}};
  std::optional<FokkerPlanckSolution> pde;
  if (with_reference) {
    FokkerPlanckOptions fp;
    fp.horizon = o.horizon;
    fp.steps = d == 1 ? 4000 : 1000;
    const std::vector<double> x0(start.row(0), start.row(0) + d);  // every path starts there
    pde = solve_fokker_planck(sde, x0, reference_grid(x, x0), fp);
  }
  double sq = 0, mean_se = 0;
  Particles ref(at.n(), d);
  for (std::size_t q = 0; q < at.n(); ++q) {
    std::vector<double> row(at.row(q), at.row(q) + d);
    for (std::size_t i = 0; i < d; ++i) {
      row.push_back(est.score(q, i));
      row.push_back(est.standard_error(q, i));
      mean_se += est.standard_error(q, i) / static_cast<double>(at.n() * d);
    }
    if (pde) {
      const auto r = pde->score(at.row(q));
      for (std::size_t i = 0; i < d; ++i) {
        row.push_back(r[i]);
        ref(q, i) = r[i];
        sq += std::pow(est.score(q, i) - r[i], 2) / static_cast<double>(at.n() * d);
      }
    }
    table.add_row(row);
  }
  summary["mean_standard_error"] = mean_se;
  const std::string hint =
      "query points beyond the paths' reach or a bandwidth too small for them; use more --paths, "
      "a larger --bandwidth or query points inside the data";
  check_finite_output("estimate malliavin: score", {est.score.data(), at.n() * d}, hint);
  check_finite_output("estimate malliavin: standard error", {est.standard_error.data(), at.n() * d},
                      hint);
  write_npy(o.out / "at.npy", {at.n(), d}, at.data());
  write_npy(o.out / "score.npy", {at.n(), d}, est.score.data());
  write_npy(o.out / "stderr.npy", {at.n(), d}, est.standard_error.data());
  if (pde) {
    summary["rmse_vs_fokker_planck"] = std::sqrt(sq);
    write_npy(o.out / "reference.npy", {at.n(), d}, ref.data());
  }
  if (o.save_paths) {
    write_npy(o.out / "x_T.npy", {x.n(), d}, x.data());
    write_npy(o.out / "delta.npy", {x.n(), d}, delta.data());
  }
  table.write(o.out / "score.csv");
  write_json(o.out / "summary.json", summary);
  if (d <= 2) plot_score_estimate(o.out / "score.csv", d, o.out / "score.png");
  if (!o.verbose) return summary;
  std::printf("%zu paths x %zu steps in %.2f s (%.0f weights/s); mean standard error %.4f%s\n",
              o.paths, o.steps, seconds, static_cast<double>(o.paths) / seconds, mean_se,
              pde ? fmt::format("; RMSE vs Fokker-Planck {:.4f}", std::sqrt(sq)).c_str() : "");
  std::printf("wrote %s/{score.npy, stderr.npy, at.npy, score.csv, summary.json%s}\n",
              o.out.c_str(), d <= 2 ? ", score.png" : "");
  return summary;
}

}  // namespace

}  // namespace sf
