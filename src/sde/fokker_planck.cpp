#include <scoreflow/sde/fokker_planck.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include <scoreflow/core/check.hpp>
#include <scoreflow/core/error.hpp>
#include <scoreflow/core/parallel.hpp>

namespace sf {
namespace {

// Tridiagonal operator of one line: (A p)_i = lower_i p_{i−1} + diag_i p_i + upper_i p_{i+1},
// the centred flux divergence with zero flux through both ends. Rebuilt in place for each
// line, so a sweep allocates nothing.
struct LineOperator {
  std::vector<double> lower, diag, upper;
  void assign(const double* b_face, std::size_t m, double diffusion, double dx) {
    for (auto* v : {&lower, &diag, &upper}) v->assign(m, 0.0);
    const double k = diffusion / dx;
    for (std::size_t i = 0; i + 1 < m; ++i) {  // face between cells i and i + 1
      const double left = (0.5 * b_face[i] + k) / dx, right = (0.5 * b_face[i] - k) / dx;
      diag[i] -= left;
      upper[i] -= right;
      lower[i + 1] += left;
      diag[i + 1] += right;
    }
  }
};

// (I − θτA_new) p ← (I + (1−θ)τA_old) p along one line of m cells `stride` apart (Thomas).
void theta_step(const LineOperator& a_old, const LineOperator& a_new, double tau, double theta,
                double* p, std::size_t stride, std::size_t m, std::vector<double>& rhs,
                std::vector<double>& c) {
  rhs.resize(m);
  c.resize(m);
  const double e = (1 - theta) * tau, im = theta * tau;
  for (std::size_t i = 0; i < m; ++i) {
    double ap = a_old.diag[i] * p[i * stride];
    if (i > 0) ap += a_old.lower[i] * p[(i - 1) * stride];
    if (i + 1 < m) ap += a_old.upper[i] * p[(i + 1) * stride];
    rhs[i] = p[i * stride] + e * ap;
  }
  double denom = 1 - im * a_new.diag[0];
  c[0] = -im * a_new.upper[0] / denom;
  rhs[0] /= denom;
  for (std::size_t i = 1; i < m; ++i) {
    const double low = -im * a_new.lower[i];
    denom = 1 - im * a_new.diag[i] - low * c[i - 1];
    c[i] = -im * a_new.upper[i] / denom;
    rhs[i] = (rhs[i] - low * rhs[i - 1]) / denom;
  }
  for (std::size_t i = m - 1; i-- > 0;) rhs[i] -= c[i] * rhs[i + 1];
  for (std::size_t i = 0; i < m; ++i) p[i * stride] = std::max(rhs[i], 0.0);
}

// The drift component normal to one axis at that axis's faces, for every line:
// values[line · (m − 1) + face]. The face points are laid out once, and the last two
// evaluations are kept: a Strang step asks for the same times more than once.
class FaceDrift {
 public:
  FaceDrift(const ForwardSde& sde, const std::vector<GridAxis>& axes, std::size_t axis)
      : sde_(sde), axis_(axis), d_(axes.size()) {
    const std::size_t m = axes[axis].cells, lines = d_ == 1 ? 1 : axes[1 - axis].cells;
    n_ = lines * (m - 1);
    points_.resize(n_ * d_);
    for (std::size_t l = 0; l < lines; ++l)
      for (std::size_t f = 0; f + 1 < m; ++f) {
        double* q = &points_[(l * (m - 1) + f) * d_];
        q[axis] = axes[axis].lo + static_cast<double>(f + 1) * axes[axis].width();
        if (d_ == 2) q[1 - axis] = axes[1 - axis].center(l);
      }
  }

  // Valid until the second call after this one.
  const std::vector<double>& at(double t) {
    for (std::size_t e = 0; e < 2; ++e)
      if (times_[e] == t) {
        last_used_ = e;
        return values_[e];
      }
    const std::size_t e = 1 - last_used_;
    drift_.resize(n_ * d_);
    sde_.drift(points_.data(), n_, d_, t, drift_.data(), nullptr, nullptr);
    values_[e].resize(n_);
    for (std::size_t k = 0; k < n_; ++k) values_[e][k] = drift_[k * d_ + axis_];
    times_[e] = t;
    last_used_ = e;
    return values_[e];
  }

 private:
  const ForwardSde& sde_;
  std::size_t axis_, d_, n_ = 0;
  std::vector<double> points_, drift_;
  std::array<std::vector<double>, 2> values_;
  std::array<double, 2> times_{NAN, NAN};  // NaN: nothing kept yet (equals no time)
  std::size_t last_used_ = 1;
};

// One θ-step of length tau along `axis` from time t.
void axis_step(FaceDrift& drift, const ForwardSde& sde, const std::vector<GridAxis>& axes,
               std::size_t axis, double t, double tau, double theta, std::vector<double>& p) {
  const std::size_t d = axes.size(), m = axes[axis].cells;
  const std::size_t lines = d == 1 ? 1 : axes[1 - axis].cells;
  const auto& b_old = drift.at(t);
  const auto& b_new = drift.at(t + tau);
  const double s_old = sde.sigma(t), s_new = sde.sigma(t + tau), dx = axes[axis].width();
  // x-major storage: along x cells are ny apart; along y they are adjacent.
  const std::size_t stride = (d == 2 && axis == 0) ? axes[1].cells : 1;
  // Lines are independent: each thread solves whole lines, so results do not depend on the
  // thread count.
  parallel_rows(lines, [&](std::size_t l) {
    thread_local std::vector<double> rhs, c;
    thread_local LineOperator a_old, a_new;
    a_old.assign(&b_old[l * (m - 1)], m, 0.5 * s_old * s_old, dx);
    a_new.assign(&b_new[l * (m - 1)], m, 0.5 * s_new * s_new, dx);
    double* start = d == 1 ? p.data() : (axis == 0 ? &p[l] : &p[l * axes[1].cells]);
    theta_step(a_old, a_new, tau, theta, start, stride, m, rhs, c);
  });
}

std::vector<double> initial_density(const ForwardSde& sde, const std::vector<double>& x0,
                                    const std::vector<GridAxis>& axes, double t0) {
  const std::size_t d = axes.size();
  std::vector<double> b(d);
  sde.drift(x0.data(), 1, d, 0.0, b.data(), nullptr, nullptr);
  const double var = sde.sigma(0) * sde.sigma(0) * t0;
  const std::size_t ny = d == 2 ? axes[1].cells : 1;
  std::vector<double> p(axes[0].cells * ny);
  double mass = 0;
  for (std::size_t i = 0; i < axes[0].cells; ++i)
    for (std::size_t j = 0; j < ny; ++j) {
      double r2 = std::pow(axes[0].center(i) - x0[0] - t0 * b[0], 2);
      if (d == 2) r2 += std::pow(axes[1].center(j) - x0[1] - t0 * b[1], 2);
      p[i * ny + j] = std::exp(-0.5 * r2 / var);
      mass += p[i * ny + j];
    }
  double cell = axes[0].width() * (d == 2 ? axes[1].width() : 1.0);
  if (!(mass > 0)) throw InvalidArgument("fokker-planck: the starting point lies outside the grid");
  for (auto& v : p) v /= mass * cell;
  return p;
}

}  // namespace

FokkerPlanckSolution solve_fokker_planck(const ForwardSde& sde, const std::vector<double>& x0,
                                         const std::vector<GridAxis>& axes,
                                         const FokkerPlanckOptions& opt) {
  const std::size_t d = axes.size();
  if (d != 1 && d != 2)
    throw InvalidArgument(
        fmt::format("fokker-planck: dimension {} given, but only 1 and 2 are "
                    "solved on a grid",
                    d));
  if (x0.size() != d)
    throw InvalidArgument(
        fmt::format("fokker-planck: x0 has dimension {}, the grid {}", x0.size(), d));
  for (const auto& a : axes) {
    if (!(a.hi > a.lo) || !std::isfinite(a.hi - a.lo) || a.cells < 3)
      throw InvalidArgument(
          fmt::format("fokker-planck: grid axis [{}, {}] with {} cells; need "
                      "finite lo < hi and at least 3 cells",
                      a.lo, a.hi, a.cells));
  }
  if (sde.dim() && sde.dim() != d)
    throw InvalidArgument(
        fmt::format("fokker-planck: the SDE '{}' is written for d = {}, the grid "
                    "has d = {}",
                    sde.name(), sde.dim(), d));
  double cells = 1;
  for (const auto& a : axes) cells *= static_cast<double>(a.cells);
  // The density and, per axis, the face points, one drift evaluation and two kept ones.
  check_memory_fits("fokker-planck grid", 13 * 8 * cells, "use fewer cells");
  check_positive_finite("fokker-planck", "t0", opt.t0);
  check_positive_finite("fokker-planck", "horizon", opt.horizon);
  check_positive("fokker-planck", "steps", opt.steps);
  if (!(opt.horizon > opt.t0))
    throw InvalidArgument(
        fmt::format("fokker-planck: horizon {} must exceed t0 {}", opt.horizon, opt.t0));
  std::vector<double> p = initial_density(sde, x0, axes, opt.t0);
  std::vector<FaceDrift> drift;
  for (std::size_t axis = 0; axis < d; ++axis) drift.emplace_back(sde, axes, axis);
  const double dt = (opt.horizon - opt.t0) / static_cast<double>(opt.steps);
  for (std::size_t n = 0; n < opt.steps; ++n) {
    const double t = opt.t0 + dt * static_cast<double>(n), theta = n < 4 ? 1.0 : 0.5;
    if (d == 1) {
      axis_step(drift[0], sde, axes, 0, t, dt, theta, p);
    } else {
      axis_step(drift[0], sde, axes, 0, t, 0.5 * dt, theta, p);
      axis_step(drift[1], sde, axes, 1, t, dt, theta, p);
      axis_step(drift[0], sde, axes, 0, t + 0.5 * dt, 0.5 * dt, theta, p);
    }
  }
  return FokkerPlanckSolution(axes, std::move(p));
}

double FokkerPlanckSolution::log_p(std::size_t i, std::size_t j) const {
  const std::size_t ny = axes_.size() == 2 ? axes_[1].cells : 1;
  return std::log(std::max(p_[i * ny + j], 1e-300));
}

double FokkerPlanckSolution::mass() const {
  double cell = axes_[0].width() * (axes_.size() == 2 ? axes_[1].width() : 1.0), m = 0;
  for (double v : p_) m += v * cell;
  return m;
}

namespace {
// Cell index and interpolation weight of coordinate y between centres, or throws.
std::pair<std::size_t, double> locate(const GridAxis& a, double y) {
  const double u = (y - a.lo) / a.width() - 0.5;
  if (!(u >= 1 && u <= static_cast<double>(a.cells) - 3))
    throw InvalidArgument(
        fmt::format("fokker-planck: query coordinate {} lies outside the grid's "
                    "interior [{}, {}]",
                    y, a.center(1), a.center(a.cells - 2)));
  const auto i = static_cast<std::size_t>(u);
  return {i, u - static_cast<double>(i)};
}
}  // namespace

std::vector<double> FokkerPlanckSolution::score(const double* y) const {
  const std::size_t d = axes_.size();
  std::vector<double> s(d, 0.0);
  // Centred difference of log p at cell (i, j) along `axis`.
  const auto diff = [&](std::size_t axis, std::size_t i, std::size_t j) {
    const double h = 2 * axes_[axis].width();
    return axis == 0 ? (log_p(i + 1, j) - log_p(i - 1, j)) / h
                     : (log_p(i, j + 1) - log_p(i, j - 1)) / h;
  };
  const auto [i, wx] = locate(axes_[0], y[0]);
  if (d == 1) {
    s[0] = (1 - wx) * diff(0, i, 0) + wx * diff(0, i + 1, 0);
    return s;
  }
  const auto [j, wy] = locate(axes_[1], y[1]);
  for (std::size_t axis = 0; axis < 2; ++axis)
    s[axis] = (1 - wx) * (1 - wy) * diff(axis, i, j) + wx * (1 - wy) * diff(axis, i + 1, j) +
              (1 - wx) * wy * diff(axis, i, j + 1) + wx * wy * diff(axis, i + 1, j + 1);
  return s;
}

double FokkerPlanckSolution::density_at(const double* y) const {
  const auto [i, wx] = locate(axes_[0], y[0]);
  if (axes_.size() == 1) return (1 - wx) * p_[i] + wx * p_[i + 1];
  const auto [j, wy] = locate(axes_[1], y[1]);
  const std::size_t ny = axes_[1].cells;
  return (1 - wx) * (1 - wy) * p_[i * ny + j] + wx * (1 - wy) * p_[(i + 1) * ny + j] +
         (1 - wx) * wy * p_[i * ny + j + 1] + wx * wy * p_[(i + 1) * ny + j + 1];
}

}  // namespace sf
