#include <scoreflow/score/grid_gauss.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/fastmath.hpp>
#include <scoreflow/core/parallel.hpp>
#include <scoreflow/score/kernel_score.hpp>

namespace sf {
namespace {

constexpr double kFar = 8.6;  // D0: exp(−D0²/2) ≈ 8.7e-17

// The trapezoidal rule's relative error for a Gaussian of width σ on spacing Δ,
// 2 Σ_k exp(−2π²k²σ²/Δ²), and the bound on its x-derivative, 2 Σ_k (2πk/Δ) exp(−2π²k²σ²/Δ²).
struct Aliasing {
  double error = 0, slope = 0;
};

Aliasing trapezoid_aliasing(double sigma, double spacing) {
  Aliasing a;
  for (int k = 1; k <= 4; ++k) {
    const double r = std::numbers::pi * k * sigma / spacing;
    const double term = 2 * std::exp(-2 * r * r);
    a.error += term;
    a.slope += 2 * std::numbers::pi * k / spacing * term;
  }
  return a;
}

// Data coordinate k lives on lattice axis 3 − d + k, so the last axis (contiguous) is used.
std::size_t axis_of(std::size_t d, std::size_t k) {
  return 3 - d + k;
}

// exp(−(node − x)²/2w²) for the nodes within `cut` of x on one axis: the first node and
// the weights.
struct AxisWeights {
  std::size_t first = 0, count = 0;
  double w[128];
};

void axis_weights(const GridGaussPlan& p, std::size_t axis, double x, double width, double cut,
                  AxisWeights& out) {
  const double lo = std::ceil((x - cut - p.origin[axis]) / p.spacing);
  const double hi = std::floor((x + cut - p.origin[axis]) / p.spacing);
  const double last = static_cast<double>(p.nodes[axis] - 1);
  const double first = std::max(0.0, lo), end = std::min(last, hi);
  if (end < first) {
    out.first = 0, out.count = 0;
    return;
  }
  out.first = static_cast<std::size_t>(first);
  out.count = std::min<std::size_t>(static_cast<std::size_t>(end - first) + 1, 128);
  const double c = 0.5 / (width * width), start = p.origin[axis] - x;
  const double step = p.spacing, first_node = static_cast<double>(out.first);
  double* w = out.w;
  const std::size_t count = out.count;
#pragma omp simd
  for (std::size_t i = 0; i < count; ++i) {
    const double u = start + (first_node + static_cast<double>(i)) * step;
    w[i] = fast_exp(-c * u * u);
  }
}

double spread_cut(const GridGaussPlan& p) {
  // The pair's z − y has mean a²·D and deviation a·√(a² + b²) (h = 1): D ≤ D0, t deviations,
  // and one spacing more for the lattice's tail.
  const double a = p.spread_width, b = p.convolve_width;
  return (a * a * kFar + p.tail * a * std::sqrt(a * a + b * b)) * p.h + p.spacing;
}

double convolve_cut(const GridGaussPlan& p) {
  const double a = p.spread_width, b = p.convolve_width;
  return (b * b * kFar + p.tail * b * std::sqrt(2 * a * a)) * p.h + p.spacing;
}

void unused_axes(std::size_t d, AxisWeights* ax) {
  for (std::size_t a = 0; a < 3 - d; ++a) ax[a].first = 0, ax[a].count = 1, ax[a].w[0] = 1;
}

// F(g) = Σ_j w_j Π_k exp(−(g_k − y_jk)²/2a²), data in order at every node. Threads own slabs
// of the first used axis and each walks all points, so no node is written by two threads and
// the result does not depend on their number.
std::vector<double> spread(const GridGaussPlan& p, ConstRows data, std::span<const double> w) {
  std::vector<double> f(p.lattice_size(), 0.0);
  const std::size_t slab_axis = axis_of(p.d, 0), slabs = p.nodes[slab_axis];
  const double width = p.spread_width * p.h, cut = spread_cut(p);
  const std::size_t n1 = p.nodes[1], n2 = p.nodes[2];
  const auto parts = static_cast<std::size_t>(thread_count());
  parallel_rows(parts, [&](std::size_t part) {
    const std::size_t s0 = slabs * part / parts, s1 = slabs * (part + 1) / parts;
    AxisWeights ax[3];
    unused_axes(p.d, ax);
    for (std::size_t j = 0; j < data.n; ++j) {
      const double* y = data.row(j);
      axis_weights(p, slab_axis, y[0], width, cut, ax[slab_axis]);
      std::size_t lo[3], hi[3];
      lo[slab_axis] = std::max(s0, ax[slab_axis].first);
      hi[slab_axis] = std::min(s1, ax[slab_axis].first + ax[slab_axis].count);
      if (lo[slab_axis] >= hi[slab_axis]) continue;
      for (std::size_t k = 1; k < p.d; ++k)
        axis_weights(p, axis_of(p.d, k), y[k], width, cut, ax[axis_of(p.d, k)]);
      for (std::size_t a = 0; a < 3; ++a)
        if (a != slab_axis) lo[a] = ax[a].first, hi[a] = ax[a].first + ax[a].count;
      for (std::size_t g0 = lo[0]; g0 < hi[0]; ++g0) {
        const double w0 = w[j] * ax[0].w[g0 - ax[0].first];
        for (std::size_t g1 = lo[1]; g1 < hi[1]; ++g1) {
          const double w01 = w0 * ax[1].w[g1 - ax[1].first];
          double* row = f.data() + (g0 * n1 + g1) * n2 + lo[2];
          const double* w2 = ax[2].w + (lo[2] - ax[2].first);
          const std::size_t len = hi[2] - lo[2];
#pragma omp simd
          for (std::size_t t = 0; t < len; ++t) row[t] += w01 * w2[t];
        }
      }
    }
  });
  return f;
}

// Convolution with exp(−(kΔ)²/2b²), |k| ≤ taps, along each used axis.
void convolve(const GridGaussPlan& p, std::vector<double>& f) {
  const double width = p.convolve_width * p.h;
  std::vector<double> kernel(p.taps + 1);
  for (std::size_t k = 0; k <= p.taps; ++k) {
    const double u = static_cast<double>(k) * p.spacing / width;
    kernel[k] = std::exp(-0.5 * u * u);
  }
  std::vector<double> out(f.size());
  const std::size_t n[3] = {p.nodes[0], p.nodes[1], p.nodes[2]};
  const std::size_t stride[3] = {n[1] * n[2], n[2], 1};
  for (std::size_t axis = 3 - p.d; axis < 3; ++axis) {
    // Lines along `axis`, as many as the other axes' nodes: line (outer, inner) starts at
    // outer·n[axis]·stride + inner, inner < stride[axis].
    const std::size_t inner = stride[axis], outer = f.size() / (n[axis] * inner);
    const auto taps = static_cast<std::ptrdiff_t>(p.taps);
    const auto len = static_cast<std::ptrdiff_t>(n[axis]);
    if (inner == 1) {
      // The contiguous axis: each line at once, shift by shift, vectorised along the line.
      parallel_rows(outer, [&](std::size_t o) {
        const double* src = f.data() + o * n[axis];
        double* dst = out.data() + o * n[axis];
        std::fill(dst, dst + n[axis], 0.0);
        for (std::ptrdiff_t m = -taps; m <= taps; ++m) {
          const double kv = kernel[static_cast<std::size_t>(std::abs(m))];
          const std::ptrdiff_t lo = std::max<std::ptrdiff_t>(0, -m), hi = std::min(len, len - m);
#pragma omp simd
          for (std::ptrdiff_t i = lo; i < hi; ++i) dst[i] += kv * src[i + m];
        }
      });
    } else {
      // Lines side by side: each node of the axis at once, vectorised across the lines.
      parallel_rows(outer * n[axis], [&](std::size_t line_node) {
        const std::size_t o = line_node / n[axis], i = line_node % n[axis];
        double* dst = out.data() + (o * n[axis] + i) * inner;
        std::fill(dst, dst + inner, 0.0);
        const auto ii = static_cast<std::ptrdiff_t>(i);
        for (std::ptrdiff_t m = std::max(-taps, -ii); m <= std::min(taps, len - 1 - ii); ++m) {
          const double kv = kernel[static_cast<std::size_t>(std::abs(m))];
          const double* src = f.data() + (o * n[axis] + static_cast<std::size_t>(ii + m)) * inner;
#pragma omp simd
          for (std::size_t t = 0; t < inner; ++t) dst[t] += kv * src[t];
        }
      });
    }
    f.swap(out);
  }
}

// Σ_g' Π_k exp(−(x_k − g'_k)²/2a²) H(g') at one query, and with `grad`, its gradient in x
// (per axis, the weights times (g'_k − x_k)/a²), summed axis by axis from the contiguous one.
double gather(const GridGaussPlan& p, const std::vector<double>& hgrid, const double* x,
              double* grad) {
  const double width = p.spread_width * p.h, cut = spread_cut(p);
  AxisWeights ax[3];
  double dw[3][128];
  unused_axes(p.d, ax);
  for (std::size_t a = 0; a < 3; ++a) dw[a][0] = 0;
  for (std::size_t k = 0; k < p.d; ++k) {
    const std::size_t a = axis_of(p.d, k);
    axis_weights(p, a, x[k], width, cut, ax[a]);
    for (std::size_t i = 0; i < ax[a].count; ++i)
      dw[a][i] = ax[a].w[i] *
                 (p.origin[a] + static_cast<double>(ax[a].first + i) * p.spacing - x[k]) /
                 (width * width);
  }
  const std::size_t n1 = p.nodes[1], n2 = p.nodes[2];
  double s = 0, g[3] = {0, 0, 0};
  for (std::size_t i0 = 0; i0 < ax[0].count; ++i0) {
    double m = 0, m1 = 0, m2 = 0;
    for (std::size_t i1 = 0; i1 < ax[1].count; ++i1) {
      const double* row =
          hgrid.data() + ((ax[0].first + i0) * n1 + ax[1].first + i1) * n2 + ax[2].first;
      double r = 0, r2 = 0;
#pragma omp simd reduction(+ : r, r2)
      for (std::size_t i2 = 0; i2 < ax[2].count; ++i2)
        r += ax[2].w[i2] * row[i2], r2 += dw[2][i2] * row[i2];
      m += ax[1].w[i1] * r, m1 += dw[1][i1] * r, m2 += ax[1].w[i1] * r2;
    }
    s += ax[0].w[i0] * m;
    g[0] += dw[0][i0] * m, g[1] += ax[0].w[i0] * m1, g[2] += ax[0].w[i0] * m2;
  }
  if (grad)
    for (std::size_t k = 0; k < p.d; ++k) grad[k] = g[axis_of(p.d, k)];
  return s;
}

double norm(const double* v, std::size_t d) {
  double s = 0;
  for (std::size_t k = 0; k < d; ++k) s += v[k] * v[k];
  return std::sqrt(s);
}

}  // namespace

double GridGaussPlan::cost(std::size_t data, std::size_t queries) const {
  const double per_point = std::pow(static_cast<double>(spread_nodes), static_cast<double>(d));
  return per_point * static_cast<double>(data + queries) + static_cast<double>(lattice_size()) *
                                                               static_cast<double>(2 * taps + 1) *
                                                               static_cast<double>(d);
}

bool grid_gauss_pays(const GridGaussPlan& plan, std::size_t data, std::size_t queries) {
  // An exact pair costs a vectorised exp and d multiply-adds, about four lattice updates.
  return plan.d > 0 &&
         plan.cost(data, queries) < 4.0 * static_cast<double>(data) * static_cast<double>(queries);
}

namespace {

// The plan with spreading width a (units of h) over the data's box [lo, hi] per coordinate.
GridGaussPlan plan_with_width(std::size_t d, double h, double a, double budget, const double* lo,
                              const double* hi, std::size_t max_nodes) {
  GridGaussPlan p;
  p.d = d;
  p.h = h;
  const double dd = static_cast<double>(d);
  // Half the budget to the two lattice sums' aliasing (per axis), half to the cut-off tails.
  const double quadrature = budget / (4 * dd);
  const auto tails_at = [dd](double t) {
    return 6 * dd * 0.5 * std::erfc(t / std::sqrt(2.0)) * 1.01;
  };
  for (p.tail = 4; tails_at(p.tail) > budget / 2;) p.tail += 0.1;
  const double b = std::sqrt(1 - 2 * a * a);
  p.spread_width = a, p.convolve_width = b;
  const double sigma1 = a * b / std::sqrt(a * a + b * b), sigma2 = a * std::sqrt(a * a + b * b);
  p.spacing = std::numbers::pi * std::min(sigma1, sigma2) * std::sqrt(2.0) /
              std::sqrt(std::log(2 / quadrature)) * h;
  const Aliasing inner = trapezoid_aliasing(sigma1 * h, p.spacing);
  const Aliasing outer = trapezoid_aliasing(sigma2 * h, p.spacing);
  const double e1 = inner.error, e2 = outer.error;
  const double tails = tails_at(p.tail);
  p.relative_error = std::pow((1 + e1) * (1 + e2), dd) - 1 + tails;
  p.far_factor = std::exp(-0.5 * kFar * kFar);
  const double cut = spread_cut(p);
  // The gradient (units of 1/h, per unit of S): the pairs' relative error times their
  // distance (≤ √d·D0 within D0), the x-derivative of the quadrature's error terms, and the
  // cut-off tails weighted by the gather's largest derivative factor.
  const double root_d = std::sqrt(dd);
  p.score_error = p.relative_error * root_d * kFar + root_d * (inner.slope + outer.slope) * h +
                  tails * root_d * (cut / h) / (a * a);
  p.far_score_factor = p.far_factor * (kFar + (cut / h) / (a * a));
  p.spread_nodes = static_cast<std::size_t>(2 * cut / p.spacing) + 1;
  p.taps = static_cast<std::size_t>(convolve_cut(p) / p.spacing);
  if (p.spread_nodes > 128) return GridGaussPlan{};
  // H = F convolved is zero beyond both cut-offs from the data, so the lattice needs to
  // reach no farther, wherever the queries are.
  const double margin = cut + convolve_cut(p);
  double size = 1;
  for (std::size_t k = 0; k < d; ++k) {
    const std::size_t axis = axis_of(d, k);
    p.origin[axis] = lo[k] - margin;
    const double n = std::ceil((hi[k] - lo[k] + 2 * margin) / p.spacing) + 1;
    size *= n;
    if (size > static_cast<double>(max_nodes)) return GridGaussPlan{};
    p.nodes[axis] = static_cast<std::size_t>(n);
  }
  return p;
}

}  // namespace

GridGaussPlan grid_gauss_plan(ConstRows data, double h, double tol, std::size_t max_nodes) {
  check_positive_finite("grid_gauss_plan", "bandwidth", h);
  if (data.d == 0 || data.d > 3 || data.n == 0) return {};
  double lo[3], hi[3];
  for (std::size_t k = 0; k < data.d; ++k) {
    lo[k] = INFINITY, hi[k] = -INFINITY;
    for (std::size_t i = 0; i < data.n; ++i)
      lo[k] = std::min(lo[k], data.row(i)[k]), hi[k] = std::max(hi[k], data.row(i)[k]);
    if (!std::isfinite(lo[k]) || !std::isfinite(hi[k])) return {};
  }
  // A narrow spreading Gaussian means few nodes per point but a fine lattice: the width with
  // the least work for as many queries as points (the spreading dominates in 1-D and 2-D, the
  // lattice's convolution in 3-D).
  // The lattice's own error a hundredth of the tolerance (the score's bound carries factors
  // of tens), and not below what double precision holds.
  const double budget = std::max(tol / 100, 1e-13);
  GridGaussPlan best;
  for (const double a : {0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5}) {
    const GridGaussPlan p = plan_with_width(data.d, h, a, budget, lo, hi, max_nodes);
    if (p.d > 0 && (best.d == 0 || p.cost(data.n, data.n) < best.cost(data.n, data.n))) best = p;
  }
  return best;
}

GridGaussSum::GridGaussSum(const GridGaussPlan& plan, ConstRows data, std::span<const double> logw)
    : plan_(plan), exact_(data, plan.h, logw) {
  if (plan.d == 0 || plan.d != data.d)
    throw InvalidArgument("GridGaussSum: the plan does not apply to these data");
  if (!logw.empty()) check_dim("GridGaussSum", "log-weights", logw.size(), data.n);
  // Weights relative to the largest, so that W ≥ 1 and nothing overflows.
  std::vector<double> w(data.n, 1.0);
  total_ = static_cast<double>(data.n);
  if (!logw.empty()) {
    const double m = *std::max_element(logw.begin(), logw.end());
    if (!std::isfinite(m))
      throw NumericalError("GridGaussSum: the largest log-weight is not finite");
    total_ = 0;
    for (std::size_t j = 0; j < data.n; ++j) total_ += w[j] = std::exp(logw[j] - m);
  }
  lattice_ = spread(plan, data, w);
  convolve(plan, lattice_);
}

BoundedKde GridGaussSum::kde(ConstRows queries, double tol, bool want_score) const {
  check_dim("GridGaussSum", "queries", queries.d, plan_.d);
  const double a = plan_.spread_width, b = plan_.convolve_width, h = plan_.h;
  const double per_axis =
      plan_.spacing * plan_.spacing / (2 * std::numbers::pi * a * b * a * h * h);
  const double scale = std::pow(per_axis, static_cast<double>(plan_.d));
  const double far = total_ * plan_.far_factor;
  const double norm_const = gaussian_log_norm(plan_.d, h) - std::log(total_);

  BoundedKde r;
  const std::size_t d = queries.d;
  r.log_density.resize(queries.n);
  r.bound.resize(queries.n);
  if (want_score) r.score = Particles(queries.n, d), r.score_bound.resize(queries.n);
  parallel_rows(queries.n, [&](std::size_t i) {
    double grad[3];
    const double s = scale * gather(plan_, lattice_, queries.row(i), want_score ? grad : nullptr);
    const double lower = (s - far) / (1 + plan_.relative_error);
    const double rel = lower > 0 ? plan_.relative_error + far / lower : INFINITY;
    r.bound[i] = rel;
    r.log_density[i] = std::log(s) + norm_const;
    if (!want_score) return;
    double* psi = r.score.row(i);
    for (std::size_t k = 0; k < d; ++k) psi[k] = scale * grad[k] / s;
    // |ψ̂ − ψ| ≤ (|∇Ŝ − ∇S|/Ŝ + |ψ̂|·r)/(1 − r), r the relative bound on Ŝ.
    const double grad_err =
        plan_.score_error / h * s * (1 + rel) + total_ * plan_.far_score_factor / h;
    r.score_bound[i] = rel < 1 ? (grad_err / s + norm(psi, d) * rel) / (1 - rel) : INFINITY;
  });
  // A query whose bound is above the tolerance is summed exactly: its log-density relative
  // to itself, its score relative to the larger of |ψ| and 1/h.
  std::vector<std::size_t> which;
  for (std::size_t i = 0; i < queries.n; ++i) {
    const bool density_ok = r.bound[i] <= tol;
    const bool score_ok =
        !want_score || r.score_bound[i] <= tol * std::max(norm(r.score.row(i), d), 1 / h);
    if (!density_ok || !score_ok) which.push_back(i);
  }
  if (!which.empty()) sum_exactly(exact_, queries, which, r);
  return r;
}

BoundedKde grid_kde(const GridGaussPlan& plan, ConstRows data, std::span<const double> logw,
                    ConstRows queries, double tol, bool want_score) {
  return GridGaussSum(plan, data, logw).kde(queries, tol, want_score);
}

}  // namespace sf
