#include <scoreflow/score/kde.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/score/grid_gauss.hpp>
#include <scoreflow/score/kernel_score.hpp>
#include <scoreflow/score/kernel_sum_f32.hpp>

namespace sf {
namespace {

// The lattice's plan when the tolerance allows it and it pays for `queries` queries;
// otherwise a plan with d = 0 (the exact sums).
GridGaussPlan lattice_plan(ConstRows data, double h, double tol, std::size_t queries) {
  if (tol == 0) return {};
  GridGaussPlan plan = grid_gauss_plan(data, h, tol);
  if (plan.d == 0 || !(plan.relative_error < tol) || !grid_gauss_pays(plan, data.n, queries))
    return {};
  return plan;
}

// Float32 kernels for `queries` queries where the tolerance admits them (null otherwise).
std::unique_ptr<Float32KernelSum> float32_sum(ConstRows data, std::span<const double> logw,
                                              double h, double tol, bool want_score,
                                              std::size_t queries) {
  if (tol == 0 || queries < Float32KernelSum::kMinQueries) return nullptr;
  auto sum = std::make_unique<Float32KernelSum>(data, h, logw);
  if (!sum->plan(tol, want_score, queries)) return nullptr;
  return sum;
}

// The lattice or else the float32 kernels, where either applies and pays for `all_queries`
// queries; nothing where the exact sums are to be used. `counts` says which answered.
std::optional<BoundedKde> approximate_kde(ConstRows data, std::span<const double> logw, double h,
                                          ConstRows queries, double tol, bool want_score,
                                          std::size_t all_queries, KdeCounts& counts) {
  counts = KdeCounts{};
  if (const GridGaussPlan plan = lattice_plan(data, h, tol, all_queries); plan.d > 0) {
    BoundedKde g = grid_kde(plan, data, logw, queries, tol, want_score);
    counts.lattice_queries = queries.n - g.exact;
    return g;
  }
  if (const auto f32 = float32_sum(data, logw, h, tol, want_score, all_queries)) {
    BoundedKde g = f32->kde(queries, tol, want_score);
    counts.float32_queries = queries.n - g.exact;
    return g;
  }
  return std::nullopt;
}

}  // namespace

void check_kde_tol(const char* who, double tol) {
  if (!(tol >= 0 && tol < 1))
    throw InvalidArgument(fmt::format(
        "{}: kde_tol is {}, but must be a relative error in [0, 1) (0: exact sums)", who, tol));
}

std::vector<double> kde_log_density(ConstRows data, std::span<const double> logw, double h,
                                    ConstRows queries, double tol, std::size_t all_queries,
                                    KdeCounts* counts) {
  check_kde_tol("kde", tol);
  const std::size_t global = all_queries ? all_queries : queries.n;
  KdeCounts unused;
  if (auto g =
          approximate_kde(data, logw, h, queries, tol, false, global, counts ? *counts : unused))
    return std::move(g->log_density);
  std::vector<double> out(queries.n);
  KernelDensity(data, h, logw).log_density(queries, out);
  return out;
}

KdeEstimate kde_estimate(ConstRows data, ConstRows at, double bandwidth,
                         std::span<const double> logw, double tol) {
  check_kde_tol("kde", tol);
  if (!(bandwidth >= 0) || !std::isfinite(bandwidth))
    throw InvalidArgument(fmt::format(
        "kde: bandwidth is {}, but must be positive and finite (0: Silverman's rule)", bandwidth));
  check_dim("kde", "the query points", at.d, data.d);
  const double silverman = silverman_bandwidth(data, logw);
  KdeEstimate e{
      std::vector<double>(at.n), Particles(at.n, at.d), bandwidth > 0 ? bandwidth : silverman, {}};
  if (auto g = approximate_kde(data, logw, e.bandwidth, at, tol, true, at.n, e.counts)) {
    e.log_density = std::move(g->log_density), e.score = std::move(g->score);
  } else {
    KernelDensity(data, e.bandwidth, logw).log_density_and_score(at, e.log_density, e.score.rows());
  }
  const std::string hint = fmt::format(
      "at bandwidth {:g} the kernels vanish at that query point; use a larger bandwidth "
      "(Silverman's rule gives {:.4g}) or query points near the data",
      e.bandwidth, silverman);
  check_finite_output("kde: log-density", e.log_density, hint);
  check_finite_output("kde: score", {e.score.data(), at.n * at.d}, hint);
  return e;
}

ParzenScore::ParzenScore(ConstRows data, double h, double tol) : tol_(tol) {
  check_kde_tol("kde", tol);
  const GridGaussPlan plan = lattice_plan(data, h, tol, data.n);
  if (plan.d > 0)
    lattice_ = std::make_unique<GridGaussSum>(plan, data);
  else if (!(float32_ = float32_sum(data, {}, h, tol, true, data.n)))
    exact_ = std::make_unique<KernelDensity>(data, h);
}

ParzenScore::~ParzenScore() = default;

void ParzenScore::score(ConstRows q, Rows out) const {
  if (exact_) return exact_->score(q, out);
  const BoundedKde g = lattice_ ? lattice_->kde(q, tol_, true) : float32_->kde(q, tol_, true);
  std::copy_n(g.score.data(), q.n * q.d, out.data);
}

}  // namespace sf
